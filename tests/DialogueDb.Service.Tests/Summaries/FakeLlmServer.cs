using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DialogueDb.Service.Tests.Summaries;

/// <summary>
/// An OpenAI-compatible server on loopback (plain HTTP) for fault injection: it records every request (path, headers,
/// body) and answers each with what <see cref="Respond"/> says for that request's number (1, 2, …).
/// </summary>
internal sealed class FakeLlmServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _inFlight;
    private int _mostInFlight;

    private FakeLlmServer(WebApplication app) => _app = app;

    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    /// <summary>The answer to request number n: status, body text, Retry-After header (null: none) and delay before answering.</summary>
    public Func<int, RecordedRequest, (int Status, string Body, string? RetryAfter, TimeSpan Delay)> Respond { get; set; } =
        (n, _) => (200, Completion($"summary {n}"), null, TimeSpan.Zero);

    public Uri BaseUrl { get; private set; } = null!;

    public int MostInFlight => Volatile.Read(ref _mostInFlight);

    public static string Completion(string content) =>
        new JsonObject { ["choices"] = new JsonArray(new JsonObject { ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = content } }) }
            .ToJsonString();

    public static async Task<FakeLlmServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var server = new FakeLlmServer(app);
        app.MapPost("/v1/chat/completions", server.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        server.BaseUrl = new Uri(address.TrimEnd('/') + "/v1");
        return server;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var inFlight = Interlocked.Increment(ref _inFlight);
        lock (Requests)
        {
            _mostInFlight = Math.Max(_mostInFlight, inFlight);
        }

        try
        {
            using var reader = new StreamReader(context.Request.Body);
            var recorded = new RecordedRequest(context.Request.Path, context.Request.Headers.Authorization.ToString(),
                JsonNode.Parse(await reader.ReadToEndAsync(context.RequestAborted))!.AsObject());
            int number;
            lock (Requests)
            {
                Requests.Enqueue(recorded);
                number = Requests.Count;
            }

            var (status, body, retryAfter, delay) = Respond(number, recorded);
            if (delay > TimeSpan.Zero)
            {
                await Task.Delay(delay, context.RequestAborted);
            }

            context.Response.StatusCode = status;
            if (retryAfter is not null)
            {
                context.Response.Headers.RetryAfter = retryAfter;
            }

            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(body, context.RequestAborted);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>One request the fake server received.</summary>
internal sealed record RecordedRequest(string Path, string Authorization, JsonObject Body)
{
    public string Model => (string)Body["model"]!;

    public string System => (string)Body["messages"]![0]!["content"]!;

    public string User => (string)Body["messages"]![1]!["content"]!;
}
