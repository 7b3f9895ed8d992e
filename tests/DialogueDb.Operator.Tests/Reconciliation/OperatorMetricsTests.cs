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
        var reconciles = 0;
        await EventuallyAsync(() =>
        {
            reconciles = harness.Controller.Reconciles;
            // At rest: no key queued and every reconcile started so far finished and counted (a watch event of the
            // controller's own status write can start one more just after a first look).
            return harness.Controller.QueueLength == 0 && metrics.Sum("workqueue_work_duration") == reconciles
                && metrics.Sum("controller_runtime_reconcile", ("controller", "dialogueproject")) == reconciles
                && harness.Controller.Reconciles == reconciles;
        }, "the last reconcile is counted");

        Assert.True(reconciles >= 2, $"{reconciles} reconciles");
        Assert.Equal(reconciles, metrics.Sum("controller_runtime_reconcile", ("controller", "dialogueproject")));
        Assert.Equal(0, metrics.Sum("controller_runtime_reconcile", ("result", "error")));
        Assert.Equal(0, metrics.Sum("controller_runtime_reconcile_errors"));
        Assert.Equal(reconciles, metrics.Sum("controller_runtime_reconcile_time"));
        // Every reconcile took a key that was added once and waited in the queue; none was retried.
        Assert.Equal(reconciles, metrics.Sum("workqueue_queue_duration", ("name", "dialogueproject")));
        Assert.Equal(metrics.Sum("workqueue_adds"), reconciles);
        Assert.Equal(0, metrics.Sum("workqueue_retries"));
        Assert.Equal(harness.Infrastructure.Ensured.Count, metrics.Sum("dialoguedb_operator_provisioning_calls",
            ("operation", "ensure"), ("result", "success")));
        Assert.True(harness.Infrastructure.Ensured.Count >= 1);

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

        var errors = metrics.Sum("controller_runtime_reconcile_errors", ("controller", "dialogueproject"));
        Assert.True(errors >= 1, $"{errors} errors");
        Assert.Equal(errors, metrics.Sum("controller_runtime_reconcile", ("result", "error")));
        Assert.Equal(errors, metrics.Sum("workqueue_retries"));
        Assert.Equal(errors, metrics.Sum("dialoguedb_operator_provisioning_failures", ("operation", "drop")));
        Assert.Equal(errors, metrics.Sum("dialoguedb_operator_provisioning_calls", ("operation", "drop"), ("result", "error")));
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
}
