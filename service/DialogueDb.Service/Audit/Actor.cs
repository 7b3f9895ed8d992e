using System.Security.Claims;

namespace DialogueDb.Service.Audit;

/// <summary>Who made a change: the acting API key's id (never the key) and the request, or a job.</summary>
internal readonly record struct Actor(string Id, string? RequestId)
{
    public static readonly Actor Retention = new("retention", null);

    /// <summary>Background work of the service itself (the summary worker).</summary>
    public static readonly Actor System = new("system", null);

    public static Actor Of(HttpContext http) =>
        new(http.User.FindFirstValue(ClaimTypes.NameIdentifier) ?? "unknown", http.TraceIdentifier);
}
