using System.Diagnostics.Metrics;
using DialogueDb.Operator.Kubernetes;
using DialogueDb.Operator.Resources;
using Microsoft.Extensions.DependencyInjection;
using static DialogueDb.Operator.Tests.Reconciliation.OperatorHarness;

namespace DialogueDb.Operator.Tests.Reconciliation;

/// <summary>
/// Issue #17: the operator's metrics move with what the controller does, on the fake API server: reconciles by result,
/// work-queue adds, waits and retries, provisioning calls, projects by condition, leadership.
/// </summary>
public sealed class OperatorMetricsTests
{
    [Fact]
    public async Task Reconcile_NewProject_CountersMatchTheControllersWork()
    {
        // Fake time: no requeue or resync fires, so the controller comes to rest once the events are worked off.
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var harness = new OperatorHarness(time: time);
        using var metrics = new RecordedMetrics(harness.Services.GetRequiredService<IMeterFactory>());
        await harness.CreateAsync("counted");
        await harness.ReconciledAsync("counted", "Progressing", "True");
        harness.RollOut("counted");
        await harness.ReconciledAsync("counted");
        var (reconciles, ensured, recorded) = await SnapshotWhileIdleAsync(harness, metrics);

        Assert.True(reconciles >= 2, $"{reconciles} reconciles");
        Assert.Equal(reconciles, recorded.Sum("controller_runtime_reconcile", ("controller", "dialogueproject")));
        Assert.Equal(0, recorded.Sum("controller_runtime_reconcile", ("result", "error")));
        Assert.Equal(0, recorded.Sum("controller_runtime_reconcile_errors"));
        Assert.Equal(reconciles, recorded.Sum("controller_runtime_reconcile_time"));
        Assert.Equal(reconciles, recorded.Sum("workqueue_work_duration"));
        // Every reconcile took a key that was added once and waited in the queue; none was retried.
        Assert.Equal(reconciles, recorded.Sum("workqueue_queue_duration", ("name", "dialogueproject")));
        Assert.Equal(reconciles, recorded.Sum("workqueue_adds"));
        Assert.Equal(0, recorded.Sum("workqueue_retries"));
        Assert.Equal(ensured, recorded.Sum("dialoguedb_operator_provisioning_calls", ("operation", "ensure"), ("result", "success")));
        Assert.True(ensured >= 1);

        // The gauge counts the operator's watch cache, which sees the Ready status a moment after the API server (the
        // controller can be at rest before the watch event of its own status write arrived; failed once that way).
        await EventuallyAsync(() => metrics.Observe().Sum("dialoguedb_operator_projects", ("condition", "Ready"), ("status", "True")) == 1,
            "the projects gauge counts the project as Ready");
        var gauges = metrics.Observe();
        Assert.Equal(0, gauges.Sum("dialoguedb_operator_projects", ("condition", "Degraded"), ("status", "True")));
        Assert.Equal(0, gauges.Sum("workqueue_depth", ("name", "dialogueproject")));

        // Labels name kinds, results and conditions: never the project or its namespace.
        Assert.DoesNotContain(metrics.LabelValues(), v => v.Contains("counted", StringComparison.Ordinal) || v.Contains(Namespace, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Reconcile_ServerRefusesTheDrop_ErrorCountedRetriedAndTheProvisioningFailureCounted()
    {
        // Fake time: the backoff never elapses, so the failing reconcile is not repeated behind the test's back.
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var harness = new OperatorHarness(time: time);
        using var metrics = new RecordedMetrics(harness.Services.GetRequiredService<IMeterFactory>());
        await harness.CreateAsync("refused", s => s.DeletionPolicy = "Delete");
        await harness.ReconciledAsync("refused", "Progressing", "True");
        harness.RollOut("refused");
        await harness.ReconciledAsync("refused");
        harness.Infrastructure.DropFailure = new Npgsql.PostgresException("permission denied to drop objects", "ERROR", "ERROR", "42501");

        harness.Api.Remove(DialogueProject.GroupVersion, DialogueProject.KindName, Namespace, "refused");
        await EventuallyAsync(() => harness.Project("refused")?.Status?.Conditions?.Any(c => c.Type == "Degraded" && c.Status == "True") == true,
            "the failure is in Degraded");

        // A child's watch event (the workloads being stopped) can run the failing reconcile once more; the counts must
        // agree however many ran.
        var (_, _, recorded) = await SnapshotWhileIdleAsync(harness, metrics);
        var errors = recorded.Sum("controller_runtime_reconcile_errors", ("controller", "dialogueproject"));
        Assert.True(errors >= 1, $"{errors} errors");
        Assert.Equal(errors, recorded.Sum("controller_runtime_reconcile", ("result", "error")));
        Assert.Equal(errors, recorded.Sum("workqueue_retries"));
        Assert.Equal(errors, recorded.Sum("dialoguedb_operator_provisioning_failures", ("operation", "drop")));
        Assert.Equal(errors, recorded.Sum("dialoguedb_operator_provisioning_calls", ("operation", "drop"), ("result", "error")));
        // The gauge counts the operator's watch cache, which sees the Degraded status a moment after the API server.
        await EventuallyAsync(() => metrics.Observe().Sum("dialoguedb_operator_projects", ("condition", "Degraded"), ("status", "True")) == 1,
            "the projects gauge counts the project as Degraded");
    }

    [Fact]
    public async Task Watches_ExpiredWith410_RelistCounted_FailedWithAnError_RestartCounted()
    {
        await using var harness = new OperatorHarness();
        using var metrics = new RecordedMetrics(harness.Services.GetRequiredService<IMeterFactory>());
        await harness.CreateAsync("watched");
        await harness.ReconciledAsync("watched", "Progressing", "True");
        Assert.Equal(0, metrics.Sum("dialoguedb_operator_watch_relists"));
        Assert.Equal(0, metrics.Sum("dialoguedb_operator_watch_restarts"));

        // History compacted and every open watch told so (ERROR 410 in the stream): each kind lists again, once.
        harness.Api.Compact();
        harness.Api.BreakWatches();
        await harness.CreateAsync("after-relist");
        await harness.ReconciledAsync("after-relist", "Progressing", "True");
        Assert.Equal(1, metrics.Sum("dialoguedb_operator_watch_relists", ("kind", DialogueProject.KindName)));
        Assert.Equal(1, metrics.Sum("dialoguedb_operator_watch_relists", ("kind", "Deployment")));
        Assert.Equal(0, metrics.Sum("dialoguedb_operator_watch_restarts"));

        // The server ends the project watch and refuses the next one (500): one restart after a backoff, no relist.
        harness.Api.FailNext(r => r.RequestUri!.AbsolutePath.EndsWith("/" + DialogueProject.Plural, StringComparison.Ordinal)
            && r.RequestUri.Query.Contains("watch=true", StringComparison.Ordinal), System.Net.HttpStatusCode.InternalServerError);
        harness.Api.EndWatches();
        await EventuallyAsync(() => metrics.Sum("dialoguedb_operator_watch_restarts", ("kind", DialogueProject.KindName)) == 1,
            "the refused watch is counted as a restart");
        await harness.CreateAsync("after-restart");
        await harness.ReconciledAsync("after-restart", "Progressing", "True");
        Assert.Equal(1, metrics.Sum("dialoguedb_operator_watch_restarts"));
        Assert.Equal(1, metrics.Sum("dialoguedb_operator_watch_relists", ("kind", DialogueProject.KindName)));
    }

    /// <summary>
    /// The reconciles, the provisioning calls and the measurements, taken together in a moment no reconcile touched: the
    /// controller idle (no key waiting, being reconciled or due again) before and after the copy, with the same count.
    /// Reading them one by one from the live record is not enough even once the status is as awaited: that status is
    /// written in the middle of a reconcile, before the reconcile is counted, and a watch event still on its way (of a
    /// child the last reconcile wrote, or of the test's roll-out) can start another one at any time. Failed that way
    /// once: 4 reconcile times against 2 reconciles counted a few statements earlier.
    /// </summary>
    private static async Task<(int Reconciles, int Ensured, RecordedMetrics.Observed Recorded)> SnapshotWhileIdleAsync(OperatorHarness harness,
        RecordedMetrics metrics)
    {
        (int, int, RecordedMetrics.Observed)? rest = null;
        await EventuallyAsync(() =>
        {
            var reconciles = harness.Controller.Reconciles;
            if (!harness.Controller.IsIdle)
            {
                return false;
            }

            var ensured = harness.Infrastructure.EnsuredCount;
            var recorded = metrics.Snapshot();
            if (!harness.Controller.IsIdle || harness.Controller.Reconciles != reconciles)
            {
                return false;
            }

            rest = (reconciles, ensured, recorded);
            return true;
        }, "the controller is idle");
        return rest!.Value;
    }
}
