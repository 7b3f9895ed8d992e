using System.Security.Claims;
using System.Text.Encodings.Web;
using DialogueDb.Service.Api;
using DialogueDb.Service.Policy;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace DialogueDb.Service.Security;

/// <summary>The project's API keys, by key id, as loaded from the project document.</summary>
internal sealed class ApiKeyRing(ProjectDocument project, ApiKeyHasher hasher)
{
    private readonly Dictionary<string, ApiKeyRecord> _byId = project.ApiKeys.ToDictionary(k => k.Id, StringComparer.Ordinal);

    public string ProjectId => project.ProjectId;

    public ApiKeyRecord? Verify(string presented)
    {
        var keyId = ApiKeyHasher.KeyIdOf(presented);
        return keyId is not null && _byId.TryGetValue(keyId, out var record) && hasher.Matches(presented, record.Hash)
            ? record
            : null;
    }
}

/// <summary>Bearer API key authentication; failures answer with the contract's error envelope.</summary>
internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    ApiKeyRing keys)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string ScopeClaim = "scope";
    public const string WritePolicy = "write";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? header = Request.Headers.Authorization;
        if (string.IsNullOrEmpty(header))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        const string bearer = "Bearer ";
        if (!header.StartsWith(bearer, StringComparison.OrdinalIgnoreCase))
        {
            return Task.FromResult(AuthenticateResult.Fail("Malformed Authorization header."));
        }

        var record = keys.Verify(header[bearer.Length..].Trim());
        if (record is null)
        {
            return Task.FromResult(AuthenticateResult.Fail("Unknown API key."));
        }

        var identity = new ClaimsIdentity(
            [
                new Claim(ClaimTypes.NameIdentifier, record.Id),
                new Claim(ScopeClaim, record.Scope),
            ],
            SchemeName);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties) =>
        ApiErrors.Unauthorized().ExecuteAsync(Context);

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        ApiErrors.Forbidden().ExecuteAsync(Context);
}
