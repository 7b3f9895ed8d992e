using DialogueDb.Operator.Reconciliation;
using DialogueDb.Operator.Resources;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace DialogueDb.Operator.Kubernetes;

internal sealed partial class ProjectController
{
    /// <summary>Watches of the kinds the operator creates for projects, in <paramref name="ns"/> (null: every namespace).</summary>
    private void WatchChildren(string? ns, ILogger watchLogger)
    {
        Child<V1Deployment, V1DeploymentList>("Deployment", ns, watchLogger,
            (rv, w, t, ct) => _client.AppsV1.ListDeploymentForAllNamespacesWithHttpMessagesAsync(
                allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                cancellationToken: ct),
            (n, rv, w, t, ct) => _client.AppsV1.ListNamespacedDeploymentWithHttpMessagesAsync(
                n, allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                cancellationToken: ct));
        Child<V1Service, V1ServiceList>("Service", ns, watchLogger,
            (rv, w, t, ct) => _client.CoreV1.ListServiceForAllNamespacesWithHttpMessagesAsync(
                allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                cancellationToken: ct),
            (n, rv, w, t, ct) => _client.CoreV1.ListNamespacedServiceWithHttpMessagesAsync(
                n, allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                cancellationToken: ct));
        Child<V1Secret, V1SecretList>("Secret", ns, watchLogger,
            (rv, w, t, ct) => _client.CoreV1.ListSecretForAllNamespacesWithHttpMessagesAsync(
                allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                cancellationToken: ct),
            (n, rv, w, t, ct) => _client.CoreV1.ListNamespacedSecretWithHttpMessagesAsync(
                n, allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                cancellationToken: ct));
        Child<V1ServiceAccount, V1ServiceAccountList>("ServiceAccount", ns, watchLogger,
            (rv, w, t, ct) => _client.CoreV1.ListServiceAccountForAllNamespacesWithHttpMessagesAsync(
                allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                cancellationToken: ct),
            (n, rv, w, t, ct) => _client.CoreV1.ListNamespacedServiceAccountWithHttpMessagesAsync(
                n, allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                cancellationToken: ct));
        Child<V1CronJob, V1CronJobList>("CronJob", ns, watchLogger,
            (rv, w, t, ct) => _client.BatchV1.ListCronJobForAllNamespacesWithHttpMessagesAsync(
                allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                cancellationToken: ct),
            (n, rv, w, t, ct) => _client.BatchV1.ListNamespacedCronJobWithHttpMessagesAsync(
                n, allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                cancellationToken: ct));
        // Only the reindex Jobs the operator creates (the retention CronJob's Jobs are its own business).
        Child<V1Job, V1JobList>("Job", ns, watchLogger,
            (rv, w, t, ct) => _client.BatchV1.ListJobForAllNamespacesWithHttpMessagesAsync(
                allowWatchBookmarks: true, labelSelector: ReindexJobSelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                cancellationToken: ct),
            (n, rv, w, t, ct) => _client.BatchV1.ListNamespacedJobWithHttpMessagesAsync(
                n, allowWatchBookmarks: true, labelSelector: ReindexJobSelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                cancellationToken: ct));
        Child<V1NetworkPolicy, V1NetworkPolicyList>("NetworkPolicy", ns, watchLogger,
            (rv, w, t, ct) => _client.NetworkingV1.ListNetworkPolicyForAllNamespacesWithHttpMessagesAsync(
                allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                cancellationToken: ct),
            (n, rv, w, t, ct) => _client.NetworkingV1.ListNamespacedNetworkPolicyWithHttpMessagesAsync(
                n, allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                cancellationToken: ct));
        Child<V1PodDisruptionBudget, V1PodDisruptionBudgetList>("PodDisruptionBudget", ns, watchLogger,
            (rv, w, t, ct) => _client.PolicyV1.ListPodDisruptionBudgetForAllNamespacesWithHttpMessagesAsync(
                allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                cancellationToken: ct),
            (n, rv, w, t, ct) => _client.PolicyV1.ListNamespacedPodDisruptionBudgetWithHttpMessagesAsync(
                n, allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                cancellationToken: ct));
        Child<V1Role, V1RoleList>("Role", ns, watchLogger,
            (rv, w, t, ct) => _client.RbacAuthorizationV1.ListRoleForAllNamespacesWithHttpMessagesAsync(
                allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                cancellationToken: ct),
            (n, rv, w, t, ct) => _client.RbacAuthorizationV1.ListNamespacedRoleWithHttpMessagesAsync(
                n, allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                cancellationToken: ct));
        Child<V1RoleBinding, V1RoleBindingList>("RoleBinding", ns, watchLogger,
            (rv, w, t, ct) => _client.RbacAuthorizationV1.ListRoleBindingForAllNamespacesWithHttpMessagesAsync(
                allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                cancellationToken: ct),
            (n, rv, w, t, ct) => _client.RbacAuthorizationV1.ListNamespacedRoleBindingWithHttpMessagesAsync(
                n, allowWatchBookmarks: true, labelSelector: ManagedBySelector, resourceVersion: rv, timeoutSeconds: t, watch: w,
                cancellationToken: ct));
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
}
