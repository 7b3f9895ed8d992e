namespace DialogueDb.Service.Api;

/// <summary>Rejects query parameters a route does not know (§2: unknown query parameters → 400).</summary>
internal sealed class KnownQueryFilter(string[] allowed) : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        foreach (var key in context.HttpContext.Request.Query.Keys)
        {
            if (!allowed.Contains(key, StringComparer.Ordinal))
            {
                var shown = key.Length <= 64 ? key : key[..64];
                return ValueTask.FromResult<object?>(ApiErrors.Invalid(shown, "unknown query parameter"));
            }
        }

        return next(context);
    }
}

internal static class KnownQueryExtensions
{
    /// <summary>The route's request checks, in order: unknown query parameters, then the bound <see cref="ApiRequest"/>.</summary>
    public static RouteHandlerBuilder WithQuery(this RouteHandlerBuilder builder, params string[] allowed) =>
        builder.AddEndpointFilter(new KnownQueryFilter(allowed)).AddEndpointFilter(new ApiRequestFilter());
}
