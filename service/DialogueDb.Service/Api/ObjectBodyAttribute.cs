namespace DialogueDb.Service.Api;

/// <summary>Marks an <see cref="ApiRequest"/> whose body must be a JSON object (an empty body reads as <c>{}</c>).</summary>
[AttributeUsage(AttributeTargets.Parameter)]
internal sealed class ObjectBodyAttribute : Attribute
{
    public string Message { get; init; } = "must be a JSON object";

    /// <summary>The body is data (a state patch), so a "namespace" key in it is data too: the namespace comes from the query.</summary>
    public bool NamespaceFromQueryOnly { get; init; }
}
