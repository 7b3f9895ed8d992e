using System.Security.Claims;
using System.Text.Encodings.Web;
using DialogueDb.Service.Api;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace DialogueDb.Service.Security;

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
