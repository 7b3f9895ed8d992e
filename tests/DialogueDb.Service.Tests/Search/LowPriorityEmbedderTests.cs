using DialogueDb.Service.Hosting;
using DialogueDb.Service.Search;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace DialogueDb.Service.Tests.Search;

public sealed class LowPriorityEmbedderTests
{
    /// <summary>
    /// Lowest priority where the runtime's threads cannot inherit it (<see cref="ThreadNiceness.ReasonNotToLower"/>;
    /// this test process runs workstation GC, so normally not here: the lowered case runs in
    /// <see cref="EmbedderRuntimeThreadsTests"/>), and the answers on normal threads either way.
    /// </summary>
    [Fact]
    public async Task EmbedAsync_RunsTheModelAtTheLowestPriorityWhereSafe_AndAnswersOnNormalThreads()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "thread nice values are a Linux notion");
        var normal = ThreadNiceness.CurrentNiceness();
        Assert.SkipWhen(normal == 19, "the test process itself runs at the lowest priority");
        var lowered = ThreadNiceness.ReasonNotToLower() is null;
        var inner = new RecordingEmbedder();
        using var embedder = new LowPriorityEmbedder(inner, NullLogger<LowPriorityEmbedder>.Instance);

        for (var i = 0; i < 50; i++)
        {
            var vectors = await embedder.EmbedAsync(["text " + i], TestContext.Current.CancellationToken);

            Assert.Equal((float)("text " + i).Length, vectors[0][0][0]);
            // The caller continues on a thread of normal priority.
            Assert.Equal(normal, ThreadNiceness.CurrentNiceness());
        }

        Assert.Equal(lowered ? 19 : null, embedder.Niceness);
        Assert.Equal([lowered ? 19 : normal], inner.Niceness.Distinct());
        Assert.DoesNotContain(ThreadsAtNiceness(19), name => name.StartsWith(".NET", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("ffffffff", true)]
    [InlineData("FFFFFFFF", true)]
    [InlineData("0xffffffff", true)]
    [InlineData("36EE80", false)] // an hour: the worker still idles out, and comes back on whichever thread needs it
    [InlineData("", false)]
    [InlineData(null, false)]
    public void TieringWorkerIsKept_OnlyAnInfiniteTimeout(string? timeout, bool kept) =>
        Assert.Equal(kept, ThreadNiceness.TieringWorkerIsKept(timeout));

    [Fact]
    public async Task EmbedAsync_ModelFails_TheCallerGetsTheException()
    {
        using var embedder = new LowPriorityEmbedder(new RecordingEmbedder { Fail = true }, NullLogger<LowPriorityEmbedder>.Instance);

        await Assert.ThrowsAsync<InvalidOperationException>(async () => await embedder.EmbedAsync(["x"], TestContext.Current.CancellationToken));
        // The thread keeps serving after a failure.
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await embedder.EmbedAsync(["y"], TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task EmbedAsync_Cancelled_Throws()
    {
        using var embedder = new LowPriorityEmbedder(new RecordingEmbedder(), NullLogger<LowPriorityEmbedder>.Instance);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await embedder.EmbedAsync(["x"], cancelled.Token));
    }

    [Fact]
    public async Task EmbedAsync_WhileTheApiIsBusy_WaitsForItToEase()
    {
        var busy = true;
        using var embedder = new LowPriorityEmbedder(new RecordingEmbedder(), NullLogger<LowPriorityEmbedder>.Instance,
            () => Volatile.Read(ref busy), maxYield: TimeSpan.FromMinutes(5));

        var embedding = embedder.EmbedAsync(["hello"], TestContext.Current.CancellationToken).AsTask();
        await Task.Delay(300, TestContext.Current.CancellationToken);
        Assert.False(embedding.IsCompleted);

        Volatile.Write(ref busy, false);
        var vectors = await embedding.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.Equal(5f, vectors[0][0][0]);
    }

    [Fact]
    public async Task EmbedAsync_TheApiStaysBusy_RunsAfterTheLongestYield()
    {
        var yield = TimeSpan.FromMilliseconds(300);
        using var embedder = new LowPriorityEmbedder(new RecordingEmbedder(), NullLogger<LowPriorityEmbedder>.Instance, () => true, yield);
        var started = System.Diagnostics.Stopwatch.StartNew();

        var vectors = await embedder.EmbedAsync(["hello"], TestContext.Current.CancellationToken).AsTask()
            .WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        Assert.Equal(5f, vectors[0][0][0]);
        Assert.True(started.Elapsed >= yield, $"answered after {started.Elapsed.TotalMilliseconds} ms");
    }

    /// <summary>Names of this process's threads at the given nice value (runtime threads are named ".NET …").</summary>
    private static List<string> ThreadsAtNiceness(int nice) =>
        [.. ProcessThreads.Read().Values.Where(t => t.Nice == nice).Select(t => t.Name)];

    [Fact]
    public async Task Working_AddsUpTheTimeSpentInTheModel_FailuresIncluded()
    {
        using var embedder = new LowPriorityEmbedder(new RecordingEmbedder { Takes = TimeSpan.FromMilliseconds(60) },
            NullLogger<LowPriorityEmbedder>.Instance);
        using var failing = new LowPriorityEmbedder(new RecordingEmbedder { Fail = true, Takes = TimeSpan.FromMilliseconds(60) },
            NullLogger<LowPriorityEmbedder>.Instance);
        Assert.Equal(TimeSpan.Zero, embedder.Working);

        await embedder.EmbedAsync(["a"], TestContext.Current.CancellationToken);
        await embedder.EmbedAsync(["b"], TestContext.Current.CancellationToken);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await failing.EmbedAsync(["x"], TestContext.Current.CancellationToken));

        Assert.InRange(embedder.Working, TimeSpan.FromMilliseconds(120), TimeSpan.FromSeconds(30));
        Assert.InRange(failing.Working, TimeSpan.FromMilliseconds(60), TimeSpan.FromSeconds(30));
    }

    private sealed class RecordingEmbedder : IEmbedder
    {
        public List<int?> Niceness { get; } = [];

        public bool Fail { get; init; }

        public TimeSpan Takes { get; init; }

        public int Dimensions => 1;

        public string Model => "recording";

        public ValueTask<float[][][]> EmbedAsync(IReadOnlyList<string> texts, CancellationToken ct)
        {
            Thread.Sleep(Takes);
            if (Fail)
            {
                throw new InvalidOperationException("model failed");
            }

            Niceness.Add(ThreadNiceness.CurrentNiceness());
            return ValueTask.FromResult(texts.Select(t => new[] { new[] { (float)t.Length } }).ToArray());
        }
    }
}
