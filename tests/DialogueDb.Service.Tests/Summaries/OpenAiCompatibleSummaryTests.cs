using System.Net;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Summaries;

/// <summary>
/// The openai-compatible provider through the whole service: the project's policy names the endpoint, model and
/// templates, the key comes from a file, and the summary the endpoint writes is what the poll returns; the key is never
/// logged.
/// </summary>
public abstract class OpenAiCompatibleSummaryTests(string engine)
{
    private const string Key = "sk-live-e2e-4f9d2a7c";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Summarize_WithTheProjectsTemplate_CompletesWithTheEndpointsSummary()
    {
        await using var llm = await FakeLlmServer.StartAsync();
        llm.Respond = (_, _) => (200, FakeLlmServer.Completion("The customer wants a refund for order 1182."), null, TimeSpan.Zero);
        using var keyFolder = new TestFolder();
        var keyFile = Path.Combine(keyFolder.Path, "summary-api-key");
        await File.WriteAllTextAsync(keyFile, Key, Ct);
        await using var host = await SummaryTestHost.StartAsync(engine,
            p => p with
            {
                Summaries = new SummarySettings
                {
                    Provider = SummarySettings.OpenAiCompatible,
                    Model = "support-model",
                    BaseUrl = llm.BaseUrl.AbsoluteUri,
                    Templates = new Dictionary<string, string> { ["support"] = "Summarise the support case in one sentence." },
                },
            },
            options => options.SummaryApiKeyFile = keyFile);
        var dialogue = await host.CreateDialogueAsync("I want a refund for order 1182.", "I can help with that. What went wrong?",
            "The parcel arrived broken.");

        var (status, accepted) = await host.SendAsync(HttpMethod.Post, "api/v1/summary", new { dialogueId = dialogue, template = "support" });
        var (unknown, error) = await host.SendAsync(HttpMethod.Post, "api/v1/summary", new { dialogueId = dialogue, template = "haiku" });
        var done = await host.WaitFinishedAsync((string)accepted["id"]!);

        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.Equal("openai-compatible", (string)accepted["provider"]!);
        Assert.Equal("support-model", (string)accepted["model"]!);
        Assert.Equal("support", (string)accepted["template"]!);
        Assert.Equal(HttpStatusCode.BadRequest, unknown);
        Assert.Equal("template", (string)error["error"]!["details"]![0]!["field"]!);
        Assert.Equal("completed", (string)done["status"]!);
        Assert.Equal("The customer wants a refund for order 1182.", (string)done["content"]!);
        var request = Assert.Single(llm.Requests);
        Assert.Equal($"Bearer {Key}", request.Authorization);
        Assert.Equal("support-model", request.Model);
        Assert.Equal("Summarise the support case in one sentence.", request.System);
        Assert.Equal("user: I want a refund for order 1182.\n\nassistant: I can help with that. What went wrong?\n\nuser: The parcel arrived broken.",
            request.User);
        Assert.DoesNotContain(Key, host.Host.Logs.All, StringComparison.Ordinal);
        Assert.DoesNotContain(Key, await File.ReadAllTextAsync(host.Options.ProjectFilePath, Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Summarize_EndpointRejectsTheKey_FailsWithErrorCode()
    {
        await using var llm = await FakeLlmServer.StartAsync();
        llm.Respond = (_, _) => (401, """{"error":{"message":"invalid key"}}""", null, TimeSpan.Zero);
        using var keyFolder = new TestFolder();
        var keyFile = Path.Combine(keyFolder.Path, "summary-api-key");
        await File.WriteAllTextAsync(keyFile, Key, Ct);
        await using var host = await SummaryTestHost.StartAsync(engine,
            p => p with
            {
                Summaries = new SummarySettings { Provider = SummarySettings.OpenAiCompatible, Model = "m", BaseUrl = llm.BaseUrl.AbsoluteUri },
            },
            options => options.SummaryApiKeyFile = keyFile);

        var done = await host.WaitFinishedAsync(await host.SummarizeAsync(await host.CreateDialogueAsync("Hello, please summarise this.")));

        Assert.Equal("failed", (string)done["status"]!);
        Assert.Equal("PROVIDER_REJECTED", (string)done["error"]!["code"]!);
        Assert.Null(done["content"]);
        Assert.Single(llm.Requests);
        Assert.DoesNotContain(Key, host.Host.Logs.All, StringComparison.Ordinal);
    }
}

public sealed class OpenAiCompatibleSummaryTestsSqlite() : OpenAiCompatibleSummaryTests("sqlite");

public sealed class OpenAiCompatibleSummaryTestsPostgres() : OpenAiCompatibleSummaryTests("postgres");
