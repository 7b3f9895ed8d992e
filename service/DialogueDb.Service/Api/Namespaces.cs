namespace DialogueDb.Service.Api;

/// <summary>Where a request's namespace comes from (§2): the query string first, else the JSON body; none is the default ("").</summary>
internal static class Namespaces
{
    public const string Default = "";

    public static (string Namespace, ApiError? Error) Resolve(HttpRequest request, RequestBody? body = null)
    {
        if (request.Query.TryGetValue("namespace", out var fromQuery))
        {
            return Check(fromQuery.ToString());
        }

        if (body is not null && body.TryGetObject(out var obj) && obj.TryGetProperty("namespace", out var fromBody)
            && fromBody.ValueKind != System.Text.Json.JsonValueKind.Null)
        {
            return fromBody.ValueKind == System.Text.Json.JsonValueKind.String
                ? Check(fromBody.GetString()!)
                : (Default, ApiErrors.Invalid("namespace", "must be a string"));
        }

        return (Default, null);
    }

    private static (string, ApiError?) Check(string ns) =>
        ns.Length == 0 ? (Default, null)
        : InputRules.IsValidId(ns) ? (ns, null)
        : (Default, ApiErrors.Invalid("namespace", InputRules.IdRule));
}
