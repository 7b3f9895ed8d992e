using System.Net;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Search;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.ML.OnnxRuntime;

namespace DialogueDb.Service.Tests.Search;

/// <summary>
/// The service gets ready without ONNX Runtime: its environment (70 ms warm, up to 220 ms cold) is created by the first
/// embedding, after the start, not while the host builds the search components, the indexer's model beside the API
/// among them (see <see cref="MiniLmEmbedder"/>). While the embedder's static constructor created the environment, the
/// child came out with it created at the start. Runs in a fresh process of this test assembly: the environment is
/// process-wide, and other tests of this process create it.
/// </summary>
public sealed class OnnxRuntimeStartTests
{
    /// <summary>Set in the child process.</summary>
    private const string ChildVariable = "DIALOGUEDB_TEST_ORT_START_CHILD";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ServiceStart_LeavesOnnxRuntimeToTheFirstEmbedding() =>
        await ChildTestRun.AssertPassesAsync(typeof(OnnxRuntimeStartTests), nameof(ChildProcess_StartTheServiceThenEmbed),
            new Dictionary<string, string> { [ChildVariable] = "1" }, Ct);

    [Fact(Explicit = true)]
    public async Task ChildProcess_StartTheServiceThenEmbed()
    {
        Assert.SkipWhen(Environment.GetEnvironmentVariable(ChildVariable) is null,
            $"runs in the process {nameof(ServiceStart_LeavesOnnxRuntimeToTheFirstEmbedding)} starts");
        Assert.False(OrtEnv.IsCreated, "ONNX Runtime's environment existed before the service started");
        using var dataDir = new TestFolder();
        await using var host = await ServiceHost.StartAsync(new ServiceOptions { DataDir = dataDir.Path, Urls = "https://127.0.0.1:0" });
        using var client = host.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("healthz/ready", Ct)).StatusCode);
        // The in-process model for the queries, and the indexer beside the API (embedded mode) with its own.
        var queries = Assert.IsType<MiniLmEmbedder>(host.Services.GetRequiredService<IEmbedder>());
        Assert.NotNull(host.Services.GetService<LowPriorityEmbedder>());

        Assert.False(OrtEnv.IsCreated, "the service created ONNX Runtime's environment before its first embedding");

        await queries.EmbedAsync(["the first embedding"], Ct);
        Assert.True(OrtEnv.IsCreated, "the first embedding ran without ONNX Runtime's environment");
    }
}
