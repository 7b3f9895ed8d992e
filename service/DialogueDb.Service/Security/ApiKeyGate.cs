using System.Runtime.CompilerServices;
using System.Security.Claims;
using DialogueDb.Service.Api;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Telemetry;

namespace DialogueDb.Service.Security;

/// <summary>
/// Bearer API keys in two small steps around the rate limiter, in place of ASP.NET Core's authentication and
/// authorization middleware (their scheme lookup, handler activation, policy evaluation and claims building cost about
/// 8% of the service's CPU per request, for one key check and one scope check).
/// <list type="bullet">
/// <item><see cref="Authenticate"/>: a request with an Authorization header has it checked (any route, as before:
/// failures count towards the address's throttle wherever they are sent); a valid key becomes the request's user.</item>
/// <item><see cref="Authorize"/>: a route marked with <see cref="ApiKeyAccess"/> answers 401 (or 429 for a throttled
/// address) without a valid key and 403 to a read-only key on a write route.</item>
/// </list>
/// </summary>
internal sealed class ApiKeyGate(ApiKeyRing keys, FailedAuthentications failures, UnauthenticatedConnections connections)
{
    public const string ScopeClaim = "scope";
    private const string Bearer = "Bearer ";

    /// <summary>One principal per key record: a request never changes it, so it is built once, not per request.</summary>
    private readonly ConditionalWeakTable<ApiKeyRecord, ClaimsPrincipal> _principals = new();

    public Task Authenticate(HttpContext context, RequestDelegate next)
    {
        string? header = context.Request.Headers.Authorization;
        if (!string.IsNullOrEmpty(header))
        {
            if (Check(context, header, out var retryAfter) is { } record)
            {
                connections.Authenticated(context.Connection.Id);
                context.User = _principals.GetValue(record, Principal);
            }
            else if (retryAfter is { } seconds)
            {
                context.Features.Set(new ThrottledAuthentication(seconds));
            }
        }

        return next(context);
    }

    public static Task Authorize(HttpContext context, RequestDelegate next)
    {
        var required = context.GetEndpoint()?.Metadata.GetOrderedMetadata<ApiKeyAccess>();
        if (required is null || required.Count == 0)
        {
            return next(context);
        }

        if (context.User.Identity is not { IsAuthenticated: true } || context.User.FindFirst(ScopeClaim) is not { } scope)
        {
            return context.Features.Get<ThrottledAuthentication>() is { } throttled
                ? ApiErrors.TooManyFailedAuthentications(throttled.RetryAfterSeconds).ExecuteAsync(context)
                : ApiErrors.Unauthorized().ExecuteAsync(context);
        }

        foreach (var access in required)
        {
            if (access.IsWrite && scope.Value != ApiKeyRecord.ReadWrite)
            {
                return ApiErrors.Forbidden().ExecuteAsync(context);
            }
        }

        return next(context);
    }

    /// <summary>The key's record, or null: a bad header or key, or a throttled address (then the seconds it must wait).</summary>
    private ApiKeyRecord? Check(HttpContext context, string header, out int? retryAfter)
    {
        var address = context.Connection.RemoteIpAddress;
        retryAfter = failures.RetryAfterSeconds(address);
        if (retryAfter is not null)
        {
            failures.Throttled();
            return null;
        }

        if (!header.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase))
        {
            failures.Record(address, ServiceMetrics.AuthFailureReasons.MalformedHeader);
            return null;
        }

        if (keys.Verify(header.AsSpan(Bearer.Length).Trim().ToString()) is not { } record)
        {
            failures.Record(address, ServiceMetrics.AuthFailureReasons.UnknownKey);
            return null;
        }

        return record;
    }

    private static ClaimsPrincipal Principal(ApiKeyRecord record) => new(new ClaimsIdentity(
        [new Claim(ClaimTypes.NameIdentifier, record.Id), new Claim(ScopeClaim, record.Scope)], authenticationType: "ApiKey"));

    /// <summary>The request came from an address over its failed-authentication budget.</summary>
    private sealed record ThrottledAuthentication(int RetryAfterSeconds);
}
