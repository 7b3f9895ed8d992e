using System.Diagnostics;
using System.Globalization;
using System.Text;
using DialogueDb.Operator.Hosting;
using DialogueDb.Operator.Tests.Reconciliation;

namespace DialogueDb.Operator.Tests.Benchmarks;

/// <summary>
/// The operator figure of the benchmark suite: the real controller reconciles many DialogueProjects against the
/// in-process fake API server. Explicit, so `make test` skips it; `bench/run.sh` runs it with `--explicit only` and
/// reads the Markdown it writes to DIALOGUEDB_BENCH_OUT. DIALOGUEDB_BENCH_PROJECTS (default 1000) and
/// DIALOGUEDB_BENCH_WORKERS (default: the operator's default) size the run.
/// </summary>
public sealed class OperatorScaleBenchmark
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    [Fact(Explicit = true)]
    public async Task Reconcile_ManyProjects_UntilReady_ThenNoOpResync()
    {
        var ct = TestContext.Current.CancellationToken;
        var count = int.Parse(Environment.GetEnvironmentVariable("DIALOGUEDB_BENCH_PROJECTS") ?? "1000", Inv);
        var options = new OperatorOptions { LeaderElection = { Enabled = false }, ResyncSeconds = 3600 };
        if (Environment.GetEnvironmentVariable("DIALOGUEDB_BENCH_WORKERS") is { Length: > 0 } workers)
        {
            options.Workers = int.Parse(workers, Inv);
        }

        using var sampler = new MemorySampler();
        await using var harness = new OperatorHarness(options);
        var names = Enumerable.Range(0, count).Select(i => "p" + i.ToString("D4", Inv)).ToArray();
        var baseline = MemorySampler.Current;

        var clock = Stopwatch.StartNew();
        foreach (var name in names)
        {
            await harness.CreateAsync(name);
        }

        var created = clock.Elapsed;

        // Plays the Deployment controller for every project as soon as its Deployment exists, then waits for Ready.
        var rolledOut = new HashSet<string>(StringComparer.Ordinal);
        var pending = new List<string>(names);
        var deadline = TimeSpan.FromMinutes(10);
        while (pending.Count > 0)
        {
            Assert.True(clock.Elapsed < deadline, $"{pending.Count} of {count} projects not Ready after {deadline}");
            foreach (var name in pending)
            {
                if (!rolledOut.Contains(name) && harness.Object("apps/v1", "Deployment", name + "-api") is not null)
                {
                    harness.RollOut(name);
                    rolledOut.Add(name);
                }
            }

            pending.RemoveAll(IsReady);
            if (pending.Count > 0)
            {
                await Task.Delay(250, ct); // polling 1,000 projects reads the fake store; not too often, it competes with the workers
            }
        }

        var allReady = clock.Elapsed;
        var writesUntilReady = harness.Api.WriteCount;
        var reconcilesUntilReady = harness.Controller.Reconciles;

        // Let the watch events of the last writes come back and their reconciles finish before the no-op resync.
        await SettleAsync(harness, ct);
        harness.Api.ClearRequests();
        var before = harness.Controller.Reconciles;
        var resyncClock = Stopwatch.StartNew();
        harness.Controller.Resync();
        while (harness.Controller.Reconciles < before + count || harness.Controller.QueueLength > 0)
        {
            Assert.True(resyncClock.Elapsed < deadline, "the resync did not finish");
            await Task.Delay(20, ct);
        }

        var resync = resyncClock.Elapsed;
        await Task.Delay(500, ct); // a write issued by the last reconciles would land now
        var resyncWrites = harness.Api.WriteCount;
        var resyncRequests = harness.Api.Requests.Count;
        var writeSummary = string.Join(", ", harness.Api.Requests.Where(r => r.Method != "GET")
            .GroupBy(r => r.Method).Select(g => $"{g.Key} {g.Count()}"));

        using var process = Process.GetCurrentProcess();
        process.Refresh();
        var report = new StringBuilder()
            .AppendLine(Inv, $"### Operator: {count} DialogueProjects on the in-process fake API server ({options.Workers} workers)")
            .AppendLine()
            .AppendLine("| figure | value |")
            .AppendLine("|---|---|")
            .AppendLine(Inv, $"| created (API calls of the test) | {created.TotalSeconds:0.00} s |")
            .AppendLine(Inv, $"| time until all Ready (from the first create) | {allReady.TotalSeconds:0.00} s |")
            .AppendLine(Inv, $"| reconciles until all Ready | {reconcilesUntilReady} |")
            .AppendLine(Inv, $"| API writes until all Ready (creates, status, events included) | {writesUntilReady} |")
            .AppendLine(Inv, $"| no-op resync: reconciles / time | {count} / {resync.TotalSeconds:0.00} s |")
            .AppendLine(Inv, $"| no-op resync: API requests / writes | {resyncRequests} / {resyncWrites}{(writeSummary.Length > 0 ? $" ({writeSummary})" : "")} |")
            .AppendLine(Inv, $"| peak working set (test process, fake API server included; sampled) | {sampler.PeakWorkingSet / 1048576.0:0} MiB (before: {baseline.WorkingSet / 1048576.0:0} MiB) |")
            .AppendLine(Inv, $"| peak managed heap (sampled) | {sampler.PeakManaged / 1048576.0:0} MiB (before: {baseline.Managed / 1048576.0:0} MiB) |")
            .AppendLine(Inv, $"| process peak working set (kernel VmHWM) | {process.PeakWorkingSet64 / 1048576.0:0} MiB |")
            .AppendLine()
            .ToString();
        TestContext.Current.SendDiagnosticMessage(report);
        if (Environment.GetEnvironmentVariable("DIALOGUEDB_BENCH_OUT") is { Length: > 0 } output)
        {
            await File.WriteAllTextAsync(output, report, ct);
        }

        Assert.Equal(0, resyncWrites);

        bool IsReady(string name)
        {
            var project = harness.Project(name);
            return project?.Status?.ObservedGeneration == project?.Metadata.Generation
                && project?.Status?.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true;
        }
    }

    /// <summary>Waits until no reconcile has run for a second and the queue is empty.</summary>
    private static async Task SettleAsync(OperatorHarness harness, CancellationToken ct)
    {
        var last = -1;
        while (harness.Controller.Reconciles != last || harness.Controller.QueueLength > 0)
        {
            last = harness.Controller.Reconciles;
            await Task.Delay(1000, ct);
        }
    }

    /// <summary>Samples the working set and the managed heap every 50 ms (GC-independent peaks of the run).</summary>
    private sealed class MemorySampler : IDisposable
    {
        private readonly Timer _timer;
        private readonly Lock _gate = new();

        public MemorySampler()
        {
            Sample(null);
            _timer = new Timer(Sample, null, 50, 50);
        }

        public long PeakWorkingSet { get; private set; }

        public long PeakManaged { get; private set; }

        public static (long WorkingSet, long Managed) Current => (Environment.WorkingSet, GC.GetTotalMemory(false));

        private void Sample(object? state)
        {
            var (workingSet, managed) = Current;
            lock (_gate)
            {
                PeakWorkingSet = Math.Max(PeakWorkingSet, workingSet);
                PeakManaged = Math.Max(PeakManaged, managed);
            }
        }

        public void Dispose() => _timer.Dispose();
    }
}
