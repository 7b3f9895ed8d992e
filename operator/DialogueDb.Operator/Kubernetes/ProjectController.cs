using System.Collections.Concurrent;
using DialogueDb.Operator.Hosting;
using DialogueDb.Operator.Reconciliation;
using DialogueDb.Operator.Resources;
using k8s;

namespace DialogueDb.Operator.Kubernetes;

/// <summary>
/// The controller: watches DialogueProjects and the kinds the operator creates for them (by the managed-by label),
/// turns every event into a project key on the work queue, and runs reconciles on a few workers. Events on projects
/// whose generation did not change (e.g. the operator's own status writes) are skipped; any event on a child brings
/// its project back, so a deleted or edited child is put back at once, and a periodic resync covers what watches miss.
/// </summary>
internal sealed partial class ProjectController : IAsyncDisposable
{
    public const string ManagedBySelector = "app.kubernetes.io/managed-by=" + ProjectNaming.FieldManager;

    public const string ReindexJobSelector = ManagedBySelector + "," + ProjectNaming.ComponentLabel + "=" + DesiredState.ReindexComponent;

    private readonly IKubernetes _client;
    private readonly OperatorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly WorkQueue<(string Namespace, string Name)> _queue;
    private readonly List<ResourceWatcher<DialogueProject, DialogueProjectList>> _projects = [];
    private readonly ChildCache _children;
    private readonly List<Func<CancellationToken, Task>> _runs = [];
    private readonly ConcurrentDictionary<string, (long? Generation, DateTime? Deleting, int Finalizers, string? ReconcileAt)> _seen =
        new();
    private readonly ProjectReconciler _reconciler;
    private readonly OperatorMetrics? _metrics;
    private readonly Usage.ProjectUsageCollector? _usage;
    private int _reconciles;

    /// <param name="children">The cache this controller's child watches fill; the reconciler reads the same instance.</param>
    public ProjectController(
        IKubernetes client,
        OperatorOptions options,
        TimeProvider time,
        ILoggerFactory loggers,
        ChildCache children,
        ProjectReconciler reconciler,
        OperatorMetrics? metrics = null,
        Usage.ProjectUsageCollector? usage = null)
    {
        _metrics = metrics;
        _usage = usage;
        _client = client;
        _children = children;
        _reconciler = reconciler;
        _options = options;
        _time = time;
        _logger = loggers.CreateLogger<ProjectController>();
        _queue = new WorkQueue<(string, string)>(time, metrics);
        if (metrics is not null)
        {
            ObserveGauges(metrics.Meter);
        }

        var watchLogger = loggers.CreateLogger("DialogueDb.Operator.Watch");
        var scopes = options.WatchNamespaces.Count == 0 ? [null] : options.WatchNamespaces.Cast<string?>().ToList();
        foreach (var ns in scopes)
        {
            var projects = new ResourceWatcher<DialogueProject, DialogueProjectList>(
                $"{DialogueProject.Plural}{(ns is null ? "" : " in " + ns)}",
                (rv, watch, timeout, ct) => ns is null
                    ? client.CustomObjects.ListClusterCustomObjectWithHttpMessagesAsync<DialogueProjectList>(
                        DialogueProject.Group, DialogueProject.Version, DialogueProject.Plural, allowWatchBookmarks: true,
                        resourceVersion: rv, timeoutSeconds: timeout, watch: watch, cancellationToken: ct)
                    : client.CustomObjects.ListNamespacedCustomObjectWithHttpMessagesAsync<DialogueProjectList>(
                        DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, allowWatchBookmarks: true,
                        resourceVersion: rv, timeoutSeconds: timeout, watch: watch, cancellationToken: ct),
                OnProjectEvent, time, watchLogger)
            {
                Metrics = metrics,
                Kind = DialogueProject.KindName,
                WatchTimeout = TimeSpan.FromSeconds(options.WatchTimeoutSeconds),
                WatchGrace = TimeSpan.FromSeconds(Math.Max(1, options.WatchTimeoutSeconds / 10)),
            };
            _projects.Add(projects);
            _runs.Add(projects.RunAsync);

            WatchChildren(ns, watchLogger);
        }
    }

    /// <summary>Reconciles finished since start (for health and tests).</summary>
    public int Reconciles => _reconciles;

    public int QueueLength => _queue.Count;

    /// <summary>No reconcile is running or waiting now (one delayed by a backoff or a requeue timer may still come).</summary>
    public bool IsIdle => _queue.IsIdle;

    public bool IsSynced => _projects.All(p => p.IsSynced) && _children.IsSynced;

    public IReadOnlyCollection<DialogueProject> Projects => [.. _projects.SelectMany(p => p.Items)];

    public void Enqueue(string ns, string name) => _queue.Add((ns, name));

    /// <summary>Runs the watches, the workers and the resync until cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var tasks = _runs.Select(run => Task.Run(() => run(cancellationToken), cancellationToken)).ToList();
        for (var i = 0; i < _options.Workers; i++)
        {
            tasks.Add(Task.Run(() => WorkAsync(cancellationToken), cancellationToken));
        }

        tasks.Add(Task.Run(() => ResyncAsync(cancellationToken), cancellationToken));
        if (_usage is { } usage)
        {
            tasks.Add(Task.Run(() => usage.RunAsync(() => Projects, cancellationToken), cancellationToken));
        }

        try
        {
            await Task.WhenAll(tasks);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    public ValueTask DisposeAsync()
    {
        _queue.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Queues every known project, whether or not anything happened to it.</summary>
    public void Resync()
    {
        foreach (var project in Projects)
        {
            _queue.Add((project.Metadata.NamespaceProperty, project.Metadata.Name));
        }
    }

    private async Task ResyncAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(_options.ResyncSeconds), _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                Resync();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
