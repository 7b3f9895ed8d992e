using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using DialogueDb.Operator.Hosting;
using DialogueDb.Operator.Reconciliation;
using DialogueDb.Operator.Resources;
using k8s;
using k8s.Autorest;
using k8s.Models;

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
        metrics?.Meter.CreateObservableGauge("workqueue_depth", () => new Measurement<int>(_queue.Count,
            new KeyValuePair<string, object?>("name", OperatorMetrics.ControllerName)), "{item}", "Keys waiting in the work queue");
        metrics?.Meter.CreateObservableGauge("dialoguedb_operator_projects", ObserveProjects, "{project}",
            "DialogueProjects by condition (Ready, Progressing, Degraded; SearchIndexerReady of those with an external indexer) "
            + "and its status (True, False, Unknown)");
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

            Child<V1Deployment, V1DeploymentList>("Deployment", ns, watchLogger,
                (rv, w, t, ct) => client.AppsV1.ListDeploymentForAllNamespacesWithHttpMessagesAsync(
                    allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                    cancellationToken: ct),
                (n, rv, w, t, ct) => client.AppsV1.ListNamespacedDeploymentWithHttpMessagesAsync(
                    n, allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                    cancellationToken: ct));
            Child<V1Service, V1ServiceList>("Service", ns, watchLogger,
                (rv, w, t, ct) => client.CoreV1.ListServiceForAllNamespacesWithHttpMessagesAsync(
                    allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                    cancellationToken: ct),
                (n, rv, w, t, ct) => client.CoreV1.ListNamespacedServiceWithHttpMessagesAsync(
                    n, allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                    cancellationToken: ct));
            Child<V1Secret, V1SecretList>("Secret", ns, watchLogger,
                (rv, w, t, ct) => client.CoreV1.ListSecretForAllNamespacesWithHttpMessagesAsync(
                    allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                    cancellationToken: ct),
                (n, rv, w, t, ct) => client.CoreV1.ListNamespacedSecretWithHttpMessagesAsync(
                    n, allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                    cancellationToken: ct));
            Child<V1ServiceAccount, V1ServiceAccountList>("ServiceAccount", ns, watchLogger,
                (rv, w, t, ct) => client.CoreV1.ListServiceAccountForAllNamespacesWithHttpMessagesAsync(
                    allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                    cancellationToken: ct),
                (n, rv, w, t, ct) => client.CoreV1.ListNamespacedServiceAccountWithHttpMessagesAsync(
                    n, allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                    cancellationToken: ct));
            Child<V1CronJob, V1CronJobList>("CronJob", ns, watchLogger,
                (rv, w, t, ct) => client.BatchV1.ListCronJobForAllNamespacesWithHttpMessagesAsync(
                    allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                    cancellationToken: ct),
                (n, rv, w, t, ct) => client.BatchV1.ListNamespacedCronJobWithHttpMessagesAsync(
                    n, allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                    cancellationToken: ct));
            // Only the reindex Jobs the operator creates (the retention CronJob's Jobs are its own business).
            Child<V1Job, V1JobList>("Job", ns, watchLogger,
                (rv, w, t, ct) => client.BatchV1.ListJobForAllNamespacesWithHttpMessagesAsync(
                    allowWatchBookmarks: true, labelSelector: ReindexJobSelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                    cancellationToken: ct),
                (n, rv, w, t, ct) => client.BatchV1.ListNamespacedJobWithHttpMessagesAsync(
                    n, allowWatchBookmarks: true, labelSelector: ReindexJobSelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                    cancellationToken: ct));
            Child<V1NetworkPolicy, V1NetworkPolicyList>("NetworkPolicy", ns, watchLogger,
                (rv, w, t, ct) => client.NetworkingV1.ListNetworkPolicyForAllNamespacesWithHttpMessagesAsync(
                    allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                    cancellationToken: ct),
                (n, rv, w, t, ct) => client.NetworkingV1.ListNamespacedNetworkPolicyWithHttpMessagesAsync(
                    n, allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                    cancellationToken: ct));
            Child<V1PodDisruptionBudget, V1PodDisruptionBudgetList>("PodDisruptionBudget", ns, watchLogger,
                (rv, w, t, ct) => client.PolicyV1.ListPodDisruptionBudgetForAllNamespacesWithHttpMessagesAsync(
                    allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                    cancellationToken: ct),
                (n, rv, w, t, ct) => client.PolicyV1.ListNamespacedPodDisruptionBudgetWithHttpMessagesAsync(
                    n, allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                    cancellationToken: ct));
            Child<V1Role, V1RoleList>("Role", ns, watchLogger,
                (rv, w, t, ct) => client.RbacAuthorizationV1.ListRoleForAllNamespacesWithHttpMessagesAsync(
                    allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                    cancellationToken: ct),
                (n, rv, w, t, ct) => client.RbacAuthorizationV1.ListNamespacedRoleWithHttpMessagesAsync(
                    n, allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                    cancellationToken: ct));
            Child<V1RoleBinding, V1RoleBindingList>("RoleBinding", ns, watchLogger,
                (rv, w, t, ct) => client.RbacAuthorizationV1.ListRoleBindingForAllNamespacesWithHttpMessagesAsync(
                    allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                    cancellationToken: ct),
                (n, rv, w, t, ct) => client.RbacAuthorizationV1.ListNamespacedRoleBindingWithHttpMessagesAsync(
                    n, allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                    cancellationToken: ct));
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

    private void Child<T, TList>(string kind, string? ns, ILogger logger,
        Func<string?, bool, int?, CancellationToken, Task<HttpOperationResponse<TList>>> all,
        Func<string, string?, bool, int?, CancellationToken, Task<HttpOperationResponse<TList>>> inNamespace)
        where T : class, IKubernetesObject<V1ObjectMeta>
        where TList : class, IKubernetesObject<V1ListMeta>, IItems<T>
    {
        var watcher = new ResourceWatcher<T, TList>(
            kind + (ns is null ? "" : " in " + ns),
            ns is null ? new ListCall<TList>(all) : (rv, w, t, ct) => inNamespace(ns, rv, w, t, ct),
            (_, child) => OnChildEvent(child), _time, logger)
        {
            Metrics = _metrics,
            Kind = kind,
            WatchTimeout = TimeSpan.FromSeconds(_options.WatchTimeoutSeconds),
            WatchGrace = TimeSpan.FromSeconds(Math.Max(1, _options.WatchTimeoutSeconds / 10)),
        };
        _children.Add(kind, watcher);
        _runs.Add(watcher.RunAsync);
    }

    private void OnProjectEvent(WatchEventType type, DialogueProject project)
    {
        var key = project.Metadata.Uid ?? $"{project.Metadata.NamespaceProperty}/{project.Metadata.Name}";
        if (type == WatchEventType.Deleted)
        {
            _seen.TryRemove(key, out _);
            return;
        }

        var reconcileAt = project.Metadata.Annotations?.TryGetValue(ProjectNaming.ReconcileAtAnnotation, out var at) == true ? at : null;
        var now = (project.Metadata.Generation, project.Metadata.DeletionTimestamp, project.Metadata.Finalizers?.Count ?? 0, reconcileAt);
        if (_seen.TryGetValue(key, out var before) && before == now)
        {
            return; // Only status or metadata changed: nothing to converge.
        }

        _seen[key] = now;
        var item = (project.Metadata.NamespaceProperty, project.Metadata.Name);
        if (before.ReconcileAt != reconcileAt && reconcileAt is not null)
        {
            _queue.Forget(item); // Someone fixed the infrastructure: retry now, and from the shortest backoff again.
        }

        _queue.Add(item);
    }

    private void OnChildEvent(IKubernetesObject<V1ObjectMeta> child)
    {
        var owner = child.Metadata.OwnerReferences?.FirstOrDefault(o => o.Controller == true && o.Kind == DialogueProject.KindName);
        if (owner is not null)
        {
            _queue.Add((child.Metadata.NamespaceProperty, owner.Name));
        }
    }

    private async Task WorkAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            (string Namespace, string Name) key;
            try
            {
                key = await _queue.TakeAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }

            var started = _time.GetTimestamp();
            try
            {
                var result = await _reconciler.ReconcileAsync(key.Namespace, key.Name, cancellationToken);
                _queue.Forget(key);
                if (result.RequeueAfter is { } after)
                {
                    _queue.AddAfter(key, after);
                }

                _metrics?.Reconciled(result.RequeueAfter is null ? OperatorMetrics.ReconcileResults.Success
                    : OperatorMetrics.ReconcileResults.RequeueAfter, _time.GetElapsedTime(started));
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                _metrics?.Reconciled(OperatorMetrics.ReconcileResults.Error, _time.GetElapsedTime(started));
                var delay = _queue.AddRateLimited(key);
                LogReconcileFailed(_logger, key.Namespace, key.Name, delay.TotalSeconds, ProjectReconciler.Describe(ex));
                await _reconciler.ReportErrorAsync(key.Namespace, key.Name, ex, cancellationToken);
            }
            finally
            {
                _metrics?.Worked(_time.GetElapsedTime(started));
                Interlocked.Increment(ref _reconciles);
                _queue.Done(key);
            }
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

    /// <summary>
    /// Conditions every project has (one without it yet counts as Unknown), then the one only a project with an external
    /// indexer has: a project without <c>SearchIndexerReady</c> (in-process indexing) is not counted for it, or every
    /// such project would look like an indexer of unknown health.
    /// </summary>
    private static readonly string[] AlwaysCounted = [Conditions.Ready, Conditions.Progressing, Conditions.Degraded];

    private static readonly string[] CountedWhenPresent = [Conditions.SearchIndexerReady];

    private IEnumerable<Measurement<int>> ObserveProjects()
    {
        var counts = new Dictionary<(string Condition, string Status), int>();
        foreach (var condition in AlwaysCounted.Concat(CountedWhenPresent))
        {
            foreach (var status in (string[])["True", "False", "Unknown"])
            {
                counts[(condition, status)] = 0;
            }
        }

        foreach (var project in Projects)
        {
            foreach (var condition in AlwaysCounted.Concat(CountedWhenPresent))
            {
                var status = project.Status?.Conditions?.FirstOrDefault(c => c.Type == condition)?.Status;
                if (status is null && CountedWhenPresent.Contains(condition))
                {
                    continue;
                }

                var key = (condition, status is not null && counts.ContainsKey((condition, status)) ? status : "Unknown");
                counts[key]++;
            }
        }

        return counts.Select(c => new Measurement<int>(c.Value, new KeyValuePair<string, object?>("condition", c.Key.Condition),
            new KeyValuePair<string, object?>("status", c.Key.Status)));
    }

    /// <summary>Queues every known project, whether or not anything happened to it.</summary>
    public void Resync()
    {
        foreach (var project in Projects)
        {
            _queue.Add((project.Metadata.NamespaceProperty, project.Metadata.Name));
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reconcile of {Namespace}/{Name} failed; retrying in {Seconds:F1} s: {Error}")]
    private static partial void LogReconcileFailed(ILogger logger, string @namespace, string name, double seconds, string error);
}
