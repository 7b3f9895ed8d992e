namespace DialogueDb.Service.Api;

/// <summary>Answers a request that <see cref="ApiRequest"/> could not bind with its error, before the handler runs.</summary>
internal sealed class ApiRequestFilter : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        foreach (var argument in context.Arguments)
        {
            if (argument is ApiRequest { Error: { } error })
            {
                return ValueTask.FromResult<object?>(error);
            }
        }

        return next(context);
    }
}
