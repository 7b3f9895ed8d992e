namespace DialogueDb.Service.Api;

/// <summary>Answers a request that <see cref="ApiRequest"/> could not bind with its error, before the handler runs.</summary>
internal sealed class ApiRequestFilter : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        // By index and only up to the request: enumerating the arguments allocated an enumerator per request, and each
        // value-type argument read is boxed (the cancellation token comes last).
        var arguments = context.Arguments;
        for (var i = 0; i < arguments.Count; i++)
        {
            if (arguments[i] is ApiRequest request)
            {
                return request.Error is { } error ? ValueTask.FromResult<object?>(error) : next(context);
            }
        }

        return next(context);
    }
}
