using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace DialogueDb.Service.Tests.Search;

/// <summary>
/// An OpenAI-compatible embeddings server on 127.0.0.1 (plain HTTP, a free port): <c>POST /v1/embeddings</c> answers
/// a deterministic vector per input, a bag of hashed words (texts that share words point the same way), so the service's
/// semantic search over it is predictable. It records each request (model, inputs, Authorization header) and can be told
/// to fail the next requests with a status, to refuse (400) every request with an input holding a word, or to answer
/// vectors of another length.
/// </summary>
internal sealed class LoopbackEmbeddingsServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<int> _failures = new();
    private readonly ConcurrentBag<string> _refused = [];

    private LoopbackEmbeddingsServer(WebApplication app, int dimensions)
    {
        _app = app;
        Dimensions = dimensions;
    }

    public int Dimensions { get; set; }

    public Uri BaseUrl => new(_app.Urls.Single() + "/v1");

    public ConcurrentQueue<(string Model, string[] Inputs, string? Authorization)> Requests { get; } = new();

    /// <summary>The next requests answer these statuses, one each, before the server answers normally again.</summary>
    public void FailNext(params int[] statuses)
    {
        foreach (var status in statuses)
        {
            _failures.Enqueue(status);
        }
    }

    /// <summary>Every request with an input containing <paramref name="word"/> answers 400, as an endpoint refusing that input.</summary>
    public void Refuse(string word) => _refused.Add(word);

    public static async Task<LoopbackEmbeddingsServer> StartAsync(int dimensions)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var server = new LoopbackEmbeddingsServer(app, dimensions);
        app.MapPost("/v1/embeddings", (Func<HttpContext, Task<IResult>>)server.EmbedAsync);
        await app.StartAsync();
        return server;
    }

    /// <summary>The vector the server gives <paramref name="text"/> (before the embedder normalises it).</summary>
    public static float[] VectorOf(string text, int dimensions)
    {
        var vector = new float[dimensions];
        foreach (var word in text.ToLowerInvariant().Split([' ', '.', ',', '?', '!', '"', '\''], StringSplitOptions.RemoveEmptyEntries))
        {
            var hash = 17;
            foreach (var c in word)
            {
                hash = unchecked(hash * 31 + c);
            }

            vector[(int)((uint)hash % (uint)dimensions)] += 1;
        }

        vector[0] += 0.01f;
        return vector;
    }

    private async Task<IResult> EmbedAsync(HttpContext context)
    {
        var body = (await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted))!;
        var inputs = body["input"]!.AsArray().Select(i => (string)i!).ToArray();
        Requests.Enqueue(((string)body["model"]!, inputs, context.Request.Headers.Authorization.FirstOrDefault()));
        if (_failures.TryDequeue(out var status))
        {
            return Results.StatusCode(status);
        }

        if (_refused.Any(word => inputs.Any(i => i.Contains(word, StringComparison.Ordinal))))
        {
            return Results.StatusCode(StatusCodes.Status400BadRequest);
        }

        var data = new JsonArray();
        for (var i = inputs.Length - 1; i >= 0; i--)
        {
            // Reversed on purpose: the client must place vectors by their index, not by their order.
            data.Add(new JsonObject
            {
                ["object"] = "embedding", ["index"] = i, ["embedding"] = JsonSerializer.SerializeToNode(VectorOf(inputs[i], Dimensions)),
            });
        }

        var answer = new JsonObject { ["object"] = "list", ["data"] = data, ["model"] = body["model"]!.DeepClone() };
        return Results.Text(answer.ToJsonString(), "application/json");
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
