using System.Globalization;
using DialogueDb.Service.Api;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Redis;
using DialogueDb.Service.Telemetry;

namespace DialogueDb.Service.RateLimiting;

/// <summary>
/// Contract §7: the project's requests-per-second limit on every API request, with X-RateLimit-* headers on every
/// answer and 429 RATE_LIMIT_EXCEEDED (Retry-After) over the rate. Requests without a valid key consume nothing (they
/// only see the headers), so unauthenticated traffic cannot spend a tenant's allowance.
/// </summary>
internal sealed class RateLimitingMiddleware(RequestDelegate next, IRateLimiter limiter, ProjectPolicy project,
    RedisKeys keys, RequestUsage requests, ServiceMetrics metrics)
{
    // The limit and the reset second change rarely between requests: their header text is formatted once per change.
    private readonly NumberText _limitText = new();
    private readonly NumberText _resetText = new();

    public async Task InvokeAsync(HttpContext context)
    {
        var path = context.Request.Path;
        if (path.StartsWithSegments("/healthz") || path.StartsWithSegments("/openapi"))
        {
            await next(context);
            return;
        }

        var cost = context.User.Identity?.IsAuthenticated == true ? 1 : 0;
        if (cost == 1)
        {
            // The monthly API-requests quota counts every authenticated request, reads included.
            requests.Count();
        }

        if (project.Effective.RequestsPerSecond is not { } rate)
        {
            await next(context);
            return;
        }

        if (!limiter.TryAcquireNow(keys.Rate, rate, cost, out var decision))
        {
            try
            {
                decision = await limiter.AcquireAsync(keys.Rate, rate, cost, context.RequestAborted);
            }
            catch (RateLimiterUnavailableException)
            {
                metrics.RateLimitDecision(ServiceMetrics.RateLimitDecisions.Unavailable);
                await ApiErrors.Unavailable("Rate limiting is unavailable; retry shortly").ExecuteAsync(context);
                return;
            }
        }

        var headers = context.Response.Headers;
        headers["X-RateLimit-Limit"] = _limitText.Of(decision.Limit);
        headers["X-RateLimit-Remaining"] = decision.Remaining.ToString(CultureInfo.InvariantCulture);
        headers["X-RateLimit-Reset"] = _resetText.Of(decision.ResetAtUnixSeconds);
        metrics.RateLimitDecision(!decision.Allowed ? ServiceMetrics.RateLimitDecisions.Limited
            : limiter is ResilientRateLimiter { Degraded: true } ? ServiceMetrics.RateLimitDecisions.Degraded
            : ServiceMetrics.RateLimitDecisions.Allowed);
        if (!decision.Allowed)
        {
            await new ApiError(429, "RATE_LIMIT_EXCEEDED", "rate_limit",
                $"Rate limit exceeded: your plan allows {decision.Limit} requests per second")
            {
                RetryAfterSeconds = decision.RetryAfterSeconds,
            }.ExecuteAsync(context);
            return;
        }

        await next(context);
    }
}
