using DialogueDb.Service.Hosting;
using DialogueDb.Service.Search;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace DialogueDb.Service.Tests.Search;

/// <summary>
/// Beside the API the model's ONNX Runtime pool threads serve one priority each: the queries' session starts its pool
/// from a query, at normal priority, and the indexer's inference starts no threads at all, even when it loads first (as
/// after a start, before any query), nor does ONNX Runtime's own first use. Each case runs in a fresh process of this test assembly (sessions are
/// process-wide, and the lowered case needs server GC with the tiering worker kept: see
/// <see cref="EmbedderRuntimeThreadsTests"/>), with the queries' model on two threads so that it has a pool thread even
/// on two cores. While the indexer shared the queries' model, the lowered case came out with that pool thread started
/// by the indexer's thread at 19 (named after it, "search embedder") and the query starting none; the other case with
/// the indexer starting it.
/// </summary>
public sealed class EmbedderSessionThreadsTests
{
    /// <summary>Set in the child process: "lowered" or "normal", the priority the indexer's thread must run at.</summary>
    private const string ChildVariable = "DIALOGUEDB_TEST_EMBEDDER_SESSION_CHILD";

    private const int QueryThreads = 2;

    [Theory]
    [InlineData("server", true)] // the service image on two or more CPUs: the indexer's thread lowers itself
    [InlineData("workstation", false)] // this test process, and a pod with one CPU: it does not
    public async Task IndexerEmbedsFirst_TheQueriesPoolRunsAtNormalPriority_TheIndexerStartsNoModelThreads(string gc, bool lowered)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "thread nice values are a Linux notion");
        Assert.SkipWhen(ThreadNiceness.CurrentNiceness() == 19, "the test process itself runs at the lowest priority");
        await ChildTestRun.AssertPassesAsync(typeof(EmbedderSessionThreadsTests), nameof(ChildProcess_IndexerEmbedsFirstThenAQuery),
            new Dictionary<string, string>
            {
                ["DOTNET_gcServer"] = gc == "server" ? "1" : "0",
                [ThreadNiceness.TieringWorkerTimeoutVariable] = "ffffffff",
                [ChildVariable] = lowered ? "lowered" : "normal",
            },
            TestContext.Current.CancellationToken);
    }

    [Fact(Explicit = true)]
    public async Task ChildProcess_IndexerEmbedsFirstThenAQuery()
    {
        var expected = Environment.GetEnvironmentVariable(ChildVariable);
        Assert.SkipWhen(expected is null, $"runs in the process {nameof(IndexerEmbedsFirst_TheQueriesPoolRunsAtNormalPriority_TheIndexerStartsNoModelThreads)} starts");
        Assert.Equal(expected == "lowered", ThreadNiceness.ReasonNotToLower() is null);
        var normal = ThreadNiceness.CurrentNiceness();
        var queries = new MiniLmEmbedder(QueryThreads);
        var before = NonRuntimeThreads();
        using var indexer = new LowPriorityEmbedder(SearchSetup.IndexingModel(queries, besideTheApi: true),
            NullLogger<LowPriorityEmbedder>.Instance);

        await indexer.EmbedAsync(["a message the indexer embeds first"], TestContext.Current.CancellationToken);
        var afterIndexing = NonRuntimeThreads();
        // A thread of its own, so that the threads it starts carry its name (a thread-pool worker's is ".NET TP Worker").
        Dictionary<string, (string Name, int? Nice)> beforeQuery = [], afterQuery = [];
        var query = new Thread(() =>
        {
            beforeQuery = NonRuntimeThreads();
            queries.EmbedAsync(["a search query"], TestContext.Current.CancellationToken).AsTask().GetAwaiter().GetResult();
            afterQuery = NonRuntimeThreads();
        }) { Name = "search query" };
        query.Start();
        query.Join();

        Assert.Equal(expected == "lowered" ? 19 : null, indexer.Niceness);
        // The indexer's own two threads and nothing else: a model pool thread would be a third (named after its creator).
        Assert.Equal(["search answers", "search embedder"], Started(before, afterIndexing).Select(t => t.Name).Order());
        // The queries' session started its pool (QueryThreads − 1 threads) from the query's thread, at normal priority.
        var queryPool = Assert.Single(Started(beforeQuery, afterQuery));
        Assert.Equal(("search query", normal), queryPool);
        // At the lowest priority only the indexer's own thread, where it lowered itself.
        Assert.Equal(expected == "lowered" ? ["search embedder"] : [], afterQuery.Values.Where(t => t.Nice == 19).Select(t => t.Name));
    }

    private static List<(string Name, int? Nice)> Started(Dictionary<string, (string Name, int? Nice)> before,
        Dictionary<string, (string Name, int? Nice)> after) =>
        [.. after.Where(t => !before.ContainsKey(t.Key)).Select(t => t.Value)];

    /// <summary>
    /// This process's threads by id with their names (cut to 15 characters) and nice values, but the runtime's own
    /// (named ".NET …"): managed threads the test starts, and native ones such as ONNX Runtime's pool, which take the
    /// name of the thread that started them.
    /// </summary>
    private static Dictionary<string, (string Name, int? Nice)> NonRuntimeThreads() =>
        ProcessThreads.Read().Where(t => !ProcessThreads.IsRuntimeThread(t.Value.Name)).ToDictionary();
}
