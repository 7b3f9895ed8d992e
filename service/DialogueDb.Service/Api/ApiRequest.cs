using System.Collections.Concurrent;
using System.Reflection;
using System.Text.Json;
using DialogueDb.Service.Audit;

namespace DialogueDb.Service.Api;

/// <summary>
/// What every API handler starts from: the JSON body (read whatever the Content-Type says; none for GET) and the
/// namespace the request addresses (the query's <c>namespace</c>, else the body's). ASP.NET Core binds it before the
/// handler runs (<see cref="BindAsync"/>); a body that cannot be read, has the wrong shape or names a bad namespace is
/// answered by <see cref="ApiRequestFilter"/> with the contract's envelope, so handlers only parse, store and answer.
/// </summary>
internal sealed class ApiRequest
{
    private static readonly ConcurrentDictionary<ParameterInfo, ObjectBodyAttribute?> Shapes = new();
    private static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement;

    private readonly RequestBody? _body;

    private ApiRequest(HttpContext http, RequestBody? body, string ns, ApiError? error)
    {
        Http = http;
        _body = body;
        Namespace = ns;
        Error = error;
    }

    public HttpContext Http { get; }

    /// <summary>The namespace addressed ("" is the default namespace).</summary>
    public string Namespace { get; }

    /// <summary>Why the request cannot go on; the filter answers with it before the handler runs.</summary>
    public ApiError? Error { get; }

    public Actor Actor => Actor.Of(Http);

    public IQueryCollection Query => Http.Request.Query;

    /// <summary>True when the request has no body (or only whitespace).</summary>
    public bool IsEmpty => _body?.IsEmpty ?? true;

    /// <summary>The body's root value (undefined when empty).</summary>
    public JsonElement Root => _body?.Root ?? default;

    /// <summary>The body when it is an object; an empty body reads as an empty object.</summary>
    public JsonElement Object => _body is not null && _body.TryGetObject(out var obj) ? obj : EmptyObject;

    public static async ValueTask<ApiRequest> BindAsync(HttpContext context, ParameterInfo parameter)
    {
        var shape = Shapes.GetOrAdd(parameter, p => p.GetCustomAttribute<ObjectBodyAttribute>());
        RequestBody? body = null;
        if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
        {
            var (read, error) = await RequestBody.ReadAsync(context.Request, context.RequestAborted);
            if (read is null)
            {
                return new ApiRequest(context, null, Namespaces.Default, error);
            }

            context.Response.RegisterForDispose(read);
            body = read;
            if (shape is not null && !read.TryGetObject(out _))
            {
                return new ApiRequest(context, body, Namespaces.Default, ApiErrors.Invalid("body", shape.Message));
            }
        }

        var (ns, nsError) = Namespaces.Resolve(context.Request, shape?.NamespaceFromQueryOnly == true ? null : body);
        return new ApiRequest(context, body, ns, nsError);
    }
}
