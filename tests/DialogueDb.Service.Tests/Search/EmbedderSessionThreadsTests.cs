using DialogueDb.Service.Hosting;
using DialogueDb.Service.Search;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace DialogueDb.Service.Tests.Search;

/// <summary>
/// Beside the API the model's ONNX Runtime pool threads serve one priority each: the queries' session starts its pool
/// from a query, at normal priority, and the indexer's inference runs on its own thread alone, even when it loads first
/// (as after a start, before any query). Its first load also creates ONNX Runtime's environment, whose thread (and the
/// short-lived ones that thread starts) takes the indexer's thread's name and priority but runs none of the model (see
/// <see cref="MiniLmEmbedder"/>): other threads named after the indexer's may exist, but only for a trifle of its CPU
/// time. Each case runs in a fresh process of this test assembly (sessions are process-wide, and the lowered case needs
/// server GC with the tiering worker kept: see <see cref="EmbedderRuntimeThreadsTests"/>), with the queries' model on
/// two threads so that it has a pool thread even on two cores. While the indexer shared the queries' model, the lowered
/// case came out with that pool thread started by the indexer's thread at 19 (named after it, "search embedder") and
/// the query starting none; the other case with the indexer starting it.
/// </summary>
public sealed class EmbedderSessionThreadsTests
{
    /// <summary>Set in the child process: "lowered" or "normal", the priority the indexer's thread must run at.</summary>
    private const string ChildVariable = "DIALOGUEDB_TEST_EMBEDDER_SESSION_CHILD";

    private const int QueryThreads = 2;

    /// <summary>
    /// A batch of some hundred word pieces a text: the indexer's thread runs the model on it for a second or more, enough
    /// for a share of it on another thread to stand out from a thread that only waits.
    /// </summary>
    private static readonly string[] IndexedTexts =
        [.. Enumerable.Range(0, 16).Select(i => $"message {i}: " + string.Join(' ', Enumerable.Repeat("the indexer embeds this message in the background", 20)))];

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

        await indexer.EmbedAsync(IndexedTexts, TestContext.Current.CancellationToken);
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
        // The indexer's own two threads, and any others only named after its thread (which started them).
        var indexing = Started(before, afterIndexing);
        Assert.Equal(["search answers", "search embedder"], indexing.Values.Select(t => t.Name).Distinct().Order());
        Assert.Single(indexing.Values, t => t.Name == "search answers");
        // Its inference ran on its own thread. A pool thread of its session would have run a share of it: measured when it
        // shared the queries' model, 0.46 s beside its own 2.4 s (load included); ONNX Runtime's environment's, a few ms.
        var onCpu = indexing.Where(t => t.Value.Name == "search embedder")
            .Select(t => ProcessThreads.TimeOnCpu(t.Key) ?? TimeSpan.Zero).OrderDescending().ToList();
        Assert.All(onCpu.Skip(1), other => Assert.True(other < onCpu[0] / 20,
            $"a thread the indexer started ran {other.TotalMilliseconds} ms, its own {onCpu[0].TotalMilliseconds} ms"));
        // The queries' session started its pool (QueryThreads − 1 threads) from the query's thread, at normal priority.
        // (Meanwhile the environment's thread may have started one of its short-lived ones, named after the indexer's.)
        var queryPool = Assert.Single(Started(beforeQuery, afterQuery).Values, t => t.Name == "search query");
        Assert.Equal(("search query", normal), queryPool);
        // At the lowest priority only threads the indexer's thread started where it lowered itself, itself included.
        var lowest = afterQuery.Values.Where(t => t.Nice == 19).Select(t => t.Name).ToList();
        Assert.All(lowest, name => Assert.Equal("search embedder", name));
        Assert.Equal(expected == "lowered", lowest.Count > 0);
    }

    private static Dictionary<string, (string Name, int? Nice)> Started(Dictionary<string, (string Name, int? Nice)> before,
        Dictionary<string, (string Name, int? Nice)> after) =>
        after.Where(t => !before.ContainsKey(t.Key)).ToDictionary();

    /// <summary>
    /// This process's threads by id with their names (cut to 15 characters) and nice values, but the runtime's own
    /// (named ".NET …"): managed threads the test starts, and native ones such as ONNX Runtime's pool, which take the
    /// name of the thread that started them.
    /// </summary>
    private static Dictionary<string, (string Name, int? Nice)> NonRuntimeThreads() =>
        ProcessThreads.Read().Where(t => !ProcessThreads.IsRuntimeThread(t.Value.Name)).ToDictionary();
}
