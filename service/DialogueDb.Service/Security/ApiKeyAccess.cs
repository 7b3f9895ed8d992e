namespace DialogueDb.Service.Security;

/// <summary>
/// Endpoint metadata: the route answers only a request with a valid API key, and with <see cref="Write"/> only a
/// read-write key. <see cref="ApiKeyGate"/> enforces it; a route without it (health, OpenAPI) is open.
/// </summary>
internal sealed class ApiKeyAccess
{
    public static readonly ApiKeyAccess Read = new(write: false);
    public static readonly ApiKeyAccess Write = new(write: true);

    private ApiKeyAccess(bool write) => IsWrite = write;

    public bool IsWrite { get; }
}

internal static class ApiKeyAccessExtensions
{
    /// <summary>Every route of the group needs a valid API key.</summary>
    public static RouteGroupBuilder RequireApiKey(this RouteGroupBuilder group) => group.WithMetadata(ApiKeyAccess.Read);

    /// <summary>Every route of the group changes data: it needs a read-write API key.</summary>
    public static RouteGroupBuilder RequireWriteKey(this RouteGroupBuilder group) => group.WithMetadata(ApiKeyAccess.Write);
}
