using System.Security.Claims;
using System.Text.Encodings.Web;
using DialogueDb.Service.Api;
using DialogueDb.Service.Policy;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace DialogueDb.Service.Security;

/// <summary>
/// The project's API keys, by key id, from the project document; follows changes to the file (a key added or revoked
/// takes effect within about a second, without a restart).
/// </summary>
internal sealed class ApiKeyRing
{
    private readonly Func<ProjectDocument> _project;
    private readonly ApiKeyHasher _hasher;
    private volatile Indexed? _indexed;

    public ApiKeyRing(Func<ProjectDocument> project, ApiKeyHasher hasher)
    {
        _project = project;
        _hasher = hasher;
        ProjectId = project().ProjectId;
    }

    public ApiKeyRing(ProjectDocument project, ApiKeyHasher hasher)
        : this(() => project, hasher)
    {
    }

    /// <summary>Fixed for the life of the process: it is part of every ciphertext's associated data.</summary>
    public string ProjectId { get; }

    /// <summary>Stands in for the stored hash of an unknown key id (no key hashes to 32 zero bytes).</summary>
    private static readonly string UnknownKeyHash = Convert.ToBase64String(new byte[32]);

    public ApiKeyRecord? Verify(string presented)
    {
        var keyId = ApiKeyHasher.KeyIdOf(presented);
        if (keyId is null)
        {
            return null;
        }

        // A well-formed key is hashed and compared whether or not its id exists, so a wrong secret of a real key id and
        // an unknown id take the same work (the answer time does not tell which ids exist).
        var known = Index().TryGetValue(keyId, out var record);
        var matches = _hasher.Matches(presented, known ? record!.Hash : UnknownKeyHash);
        return known && matches ? record : null;
    }

    private Dictionary<string, ApiKeyRecord> Index()
    {
        var current = _project();
        var indexed = _indexed;
        if (indexed is null || !ReferenceEquals(indexed.Document, current))
        {
            indexed = new Indexed(current, current.ApiKeys.ToDictionary(k => k.Id, StringComparer.Ordinal));
            _indexed = indexed;
        }

        return indexed.ById;
    }

    private sealed record Indexed(ProjectDocument Document, Dictionary<string, ApiKeyRecord> ById);
}

/// <summary>Bearer API key authentication; failures answer with the contract's error envelope.</summary>
internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    ApiKeyRing keys,
    FailedAuthentications failures,
    Hosting.UnauthenticatedConnections connections)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string ScopeClaim = "scope";
    public const string WritePolicy = "write";

    private const string ThrottledItem = "dialoguedb.auth.retry-after";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? header = Request.Headers.Authorization;
        if (string.IsNullOrEmpty(header))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        var address = Context.Connection.RemoteIpAddress;
        if (failures.RetryAfterSeconds(address) is { } retryAfter)
        {
            Context.Items[ThrottledItem] = retryAfter;
            failures.Throttled();
            return Task.FromResult(AuthenticateResult.Fail("Too many failed authentications from this address."));
        }

        const string bearer = "Bearer ";
        if (!header.StartsWith(bearer, StringComparison.OrdinalIgnoreCase))
        {
            failures.Record(address, Telemetry.ServiceMetrics.AuthFailureReasons.MalformedHeader);
            return Task.FromResult(AuthenticateResult.Fail("Malformed Authorization header."));
        }

        var record = keys.Verify(header[bearer.Length..].Trim());
        if (record is null)
        {
            failures.Record(address, Telemetry.ServiceMetrics.AuthFailureReasons.UnknownKey);
            return Task.FromResult(AuthenticateResult.Fail("Unknown API key."));
        }

        connections.Authenticated(Context.Connection.Id);
        var identity = new ClaimsIdentity(
            [
                new Claim(ClaimTypes.NameIdentifier, record.Id),
                new Claim(ScopeClaim, record.Scope),
            ],
            SchemeName);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties) =>
        Context.Items.TryGetValue(ThrottledItem, out var retryAfter)
            ? ApiErrors.TooManyFailedAuthentications((int)retryAfter!).ExecuteAsync(Context)
            : ApiErrors.Unauthorized().ExecuteAsync(Context);

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        ApiErrors.Forbidden().ExecuteAsync(Context);
}
