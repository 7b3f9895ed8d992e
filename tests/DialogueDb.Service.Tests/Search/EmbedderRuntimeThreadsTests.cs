using System.Diagnostics;
using System.Runtime.CompilerServices;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Search;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace DialogueDb.Service.Tests.Search;

/// <summary>
/// The runtime threads the embedder's thread can make the runtime start (the background-GC thread, the tiered-compilation
/// worker) never start at its lowest priority. Each case runs in a fresh process of this test assembly, with the GC and
/// the tiering setting of the case and none of those threads started yet by another test, and makes the embedder's
/// thread start them itself: a method it is the first to call after the tiering worker idled out, then allocations and
/// non-blocking full collections until a background collection ran. Before the embedder checked
/// <see cref="ThreadNiceness.ReasonNotToLower"/> (it always lowered itself) the workstation case came out with
/// <c>.NET BGC</c> and the tiering worker at 19 (the CI failure: <c>.NET BGC</c> at 19 in this test process), the server
/// case without the setting with the tiering worker at 19; the image's case passed.
/// </summary>
public sealed class EmbedderRuntimeThreadsTests
{
    /// <summary>Set in the child process: "lowered" or "normal", the priority its embedder must run at.</summary>
    private const string ChildVariable = "DIALOGUEDB_TEST_EMBEDDER_CHILD";

    [Theory]
    [InlineData("workstation", false, false)] // this test process, and a pod with one CPU
    [InlineData("server", false, false)] // server GC without the image's tiering setting (e.g. dotnet run)
    [InlineData("server", true, true)] // the service image on two or more CPUs
    public async Task EmbedderThread_StartsTheRuntimesThreads_TheyRunAtNormalPriority(string gc, bool tieringWorkerKept, bool lowered)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "thread nice values are a Linux notion");
        Assert.SkipWhen(ThreadNiceness.CurrentNiceness() == 19, "the test process itself runs at the lowest priority");
        await ChildTestRun.AssertPassesAsync(typeof(EmbedderRuntimeThreadsTests), nameof(ChildProcess_EmbedderThreadStartsTheRuntimesThreads),
            new Dictionary<string, string>
            {
                ["DOTNET_gcServer"] = gc == "server" ? "1" : "0",
                // Not kept: 100 ms instead of the default 4 s, so the worker idles out within the test (any finite
                // timeout lets it go and come back on whichever thread needs it next; in the child's runner 4 s of quiet
                // can take long).
                [ThreadNiceness.TieringWorkerTimeoutVariable] = tieringWorkerKept ? "ffffffff" : "64",
                [ChildVariable] = lowered ? "lowered" : "normal",
            },
            TestContext.Current.CancellationToken);
    }

    [Fact(Explicit = true)]
    public async Task ChildProcess_EmbedderThreadStartsTheRuntimesThreads()
    {
        var expected = Environment.GetEnvironmentVariable(ChildVariable);
        Assert.SkipWhen(expected is null, $"runs in the process {nameof(EmbedderThread_StartsTheRuntimesThreads_TheyRunAtNormalPriority)} starts");
        Assert.Equal(expected == "lowered", ThreadNiceness.ReasonNotToLower() is null);
        if (!System.Runtime.GCSettings.IsServerGC)
        {
            // Fresh process: no background collection yet, so the one the embedder's thread starts also starts the
            // thread there. (Server GC's own threads start its background-GC threads, maybe already during discovery.)
            Assert.DoesNotContain(".NET BGC", RuntimeThreads().Select(t => t.Name));
        }

        var inner = new RuntimeThreadsStarter();
        using var embedder = new LowPriorityEmbedder(inner, NullLogger<LowPriorityEmbedder>.Instance);

        await embedder.EmbedAsync(["x"], TestContext.Current.CancellationToken);

        Assert.True(inner.BackgroundCollections > 0, "no background collection ran while the embedder's thread allocated");
        var threads = RuntimeThreads();
        Assert.Contains(threads, t => t.Name == ".NET BGC");
        Assert.Contains(threads, t => t.Name.StartsWith(".NET Tiered", StringComparison.Ordinal));
        Assert.DoesNotContain(threads, t => t.Nice != 0);
        Assert.Equal(expected == "lowered" ? 19 : null, embedder.Niceness);
        Assert.Equal(expected == "lowered" ? 19 : 0, inner.Niceness);
    }

    /// <summary>This process's runtime threads (named ".NET …", cut to 15 characters) and their nice values.</summary>
    private static List<(string Name, int? Nice)> RuntimeThreads() =>
        [.. ProcessThreads.Read().Values.Where(t => ProcessThreads.IsRuntimeThread(t.Name))];

    /// <summary>
    /// An embedder whose work, on the embedder's thread, makes the runtime start its threads there if they are not
    /// running: a method called for the first time once the tiering worker has idled out (unless it is kept), then a
    /// heap of some megabytes and non-blocking full collections until one ran in the background (a collection of a
    /// nearly empty heap is not one).
    /// </summary>
    private sealed class RuntimeThreadsStarter : IEmbedder
    {
        public int? Niceness { get; private set; }

        public int BackgroundCollections { get; private set; }

        public int Dimensions => 1;

        public string Model => "runtime-threads";

        public ValueTask<float[][][]> EmbedAsync(IReadOnlyList<string> texts, CancellationToken ct)
        {
            Niceness = ThreadNiceness.CurrentNiceness();
            var idle = Stopwatch.StartNew();
            var kept = ThreadNiceness.TieringWorkerIsKept(Environment.GetEnvironmentVariable(ThreadNiceness.TieringWorkerTimeoutVariable));
            while (!kept && idle.Elapsed < TimeSpan.FromSeconds(10)
                && RuntimeThreads().Any(t => t.Name.StartsWith(".NET Tiered", StringComparison.Ordinal)))
            {
                Thread.Sleep(20);
            }

            var sum = 0;
            for (var i = 0; i < 200; i++)
            {
                sum += FirstCalledHere(i);
                Thread.Sleep(1);
            }

            var before = GC.GetGCMemoryInfo(GCKind.Background).Index;
            var heap = new byte[32_768][];
            for (var i = 0; i < heap.Length; i++)
            {
                heap[i] = new byte[1024];
            }

            for (var i = 0; i < 20 && GC.GetGCMemoryInfo(GCKind.Background).Index == before; i++)
            {
                GC.Collect(2, GCCollectionMode.Forced, blocking: false);
                Thread.Sleep(50);
            }

            BackgroundCollections = (int)(GC.GetGCMemoryInfo(GCKind.Background).Index - before);
            GC.KeepAlive(heap);
            return ValueTask.FromResult(texts.Select(_ => new[] { new[] { (float)sum } }).ToArray());
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private static int FirstCalledHere(int i) => (i * 7) + 1;
    }
}
