using System.Diagnostics.Metrics;

namespace DialogueDb.Operator.Kubernetes;

/// <summary>
/// The operator's instruments, served at <c>/metrics</c> on the health port. Reconcile and work-queue metrics take
/// controller-runtime's names and labels (<c>controller_runtime_reconcile_total{controller,result}</c>,
/// <c>workqueue_depth{name}</c>, …) so existing dashboards and alerts apply; the rest are <c>dialoguedb_operator_*</c>.
/// Labels carry kinds, results and condition names only, never a project's name or namespace.
/// </summary>
internal sealed class OperatorMetrics
{
    public const string MeterName = "DialogueDb.Operator";

    /// <summary>The <c>controller</c> label of the reconcile metrics and the <c>name</c> label of the queue's.</summary>
    public const string ControllerName = "dialogueproject";

    private static readonly KeyValuePair<string, object?> Controller = new("controller", ControllerName);
    private static readonly KeyValuePair<string, object?> Queue = new("name", ControllerName);
    private readonly Counter<long> _reconciles;
    private readonly Counter<long> _reconcileErrors;
    private readonly Histogram<double> _reconcileTime;
    private readonly Counter<long> _queueAdds;
    private readonly Counter<long> _queueRetries;
    private readonly Histogram<double> _queueDuration;
    private readonly Histogram<double> _workDuration;
    private readonly Counter<long> _watchRestarts;
    private readonly Counter<long> _watchRelists;
    private readonly Counter<long> _provisioningCalls;
    private readonly Counter<long> _provisioningFailures;
    private readonly Counter<long> _usageReads;
    private readonly Counter<long> _usageUpdates;

    public OperatorMetrics(IMeterFactory meters)
    {
        Meter = meters.Create(MeterName);
        double[] seconds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
        _reconciles = Meter.CreateCounter<long>("controller_runtime_reconcile", "{reconcile}",
            "Reconciles by result: success, requeue_after, error");
        _reconcileErrors = Meter.CreateCounter<long>("controller_runtime_reconcile_errors", "{reconcile}", "Reconciles that failed");
        _reconcileTime = Meter.CreateHistogram("controller_runtime_reconcile_time", "s", "Duration of reconciles",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = seconds });
        _queueAdds = Meter.CreateCounter<long>("workqueue_adds", "{item}", "Keys added to the work queue");
        _queueRetries = Meter.CreateCounter<long>("workqueue_retries", "{item}", "Keys re-queued with backoff after a failure");
        _queueDuration = Meter.CreateHistogram("workqueue_queue_duration", "s", "Time a key waited in the queue before a worker took it",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = seconds });
        _workDuration = Meter.CreateHistogram("workqueue_work_duration", "s", "Time a worker spent on a key",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = seconds });
        _watchRestarts = Meter.CreateCounter<long>("dialoguedb_operator_watch_restarts", "{watch}",
            "Watches that failed and were started again after a backoff, by kind");
        _watchRelists = Meter.CreateCounter<long>("dialoguedb_operator_watch_relists", "{list}",
            "Full lists because the watch's resourceVersion expired (410 Gone), by kind");
        _provisioningCalls = Meter.CreateCounter<long>("dialoguedb_operator_provisioning_calls", "{call}",
            "Calls to the shared PostgreSQL/Redis to create or drop a project's database, roles and users, by operation and result");
        _provisioningFailures = Meter.CreateCounter<long>("dialoguedb_operator_provisioning_failures", "{call}",
            "Provisioning calls that failed, by operation");
        _usageReads = Meter.CreateCounter<long>("dialoguedb_operator_usage_reads", "{read}",
            "Reads of the plan usage the projects' pods publish (one per interval for all projects), by result");
        _usageUpdates = Meter.CreateCounter<long>("dialoguedb_operator_usage_updates", "{update}",
            "status.usage writes (a project whose numbers changed)");
    }

    /// <summary>The meter, for the gauges whose owners observe them (queue depth, projects, leadership).</summary>
    public Meter Meter { get; }

    public void Reconciled(string result, TimeSpan duration)
    {
        _reconciles.Add(1, Controller, new KeyValuePair<string, object?>("result", result));
        if (result == ReconcileResults.Error)
        {
            _reconcileErrors.Add(1, Controller);
        }

        _reconcileTime.Record(duration.TotalSeconds, Controller);
    }

    public void QueueAdded() => _queueAdds.Add(1, Queue);

    public void QueueRetried() => _queueRetries.Add(1, Queue);

    public void QueueWaited(TimeSpan waited) => _queueDuration.Record(waited.TotalSeconds, Queue);

    public void Worked(TimeSpan worked) => _workDuration.Record(worked.TotalSeconds, Queue);

    public void WatchRestarted(string kind) => _watchRestarts.Add(1, new KeyValuePair<string, object?>("kind", kind));

    public void WatchRelisted(string kind) => _watchRelists.Add(1, new KeyValuePair<string, object?>("kind", kind));

    /// <summary>One call to the shared servers: <paramref name="operation"/> is <c>ensure</c> or <c>drop</c>.</summary>
    public void Provisioned(string operation, bool succeeded)
    {
        var op = new KeyValuePair<string, object?>("operation", operation);
        _provisioningCalls.Add(1, op, new KeyValuePair<string, object?>("result", succeeded ? "success" : "error"));
        if (!succeeded)
        {
            _provisioningFailures.Add(1, op);
        }
    }

    public void UsageRead(bool succeeded) =>
        _usageReads.Add(1, new KeyValuePair<string, object?>("result", succeeded ? "success" : "error"));

    public void UsageUpdated() => _usageUpdates.Add(1);

    /// <summary>Runs one call to the shared servers and counts it (and its failure, which it rethrows).</summary>
    public static async Task ProvisionAsync(OperatorMetrics? metrics, string operation, Func<Task> call)
    {
        try
        {
            await call();
        }
        catch (Exception) when (metrics is not null)
        {
            metrics.Provisioned(operation, succeeded: false);
            throw;
        }

        metrics?.Provisioned(operation, succeeded: true);
    }

    /// <summary>Values of the <c>result</c> label of <c>controller_runtime_reconcile_total</c>.</summary>
    public static class ReconcileResults
    {
        public const string Success = "success";
        public const string RequeueAfter = "requeue_after";
        public const string Error = "error";
    }
}
