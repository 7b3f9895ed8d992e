using DialogueDb.Operator.Kubernetes;
using DialogueDb.Operator.Provisioning;
using DialogueDb.Operator.Resources;
using k8s;
using k8s.Models;
using static DialogueDb.Operator.Reconciliation.ProjectNaming;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>
/// The finalizer step: a project with <c>deletionPolicy: Delete</c> carries the finalizer, so its database, roles,
/// Redis user and keys are dropped before the object goes; a Retain project carries none. The project's pods are
/// stopped first (Deployment scaled to 0, CronJob suspended, its Jobs deleted) and the data is dropped only once no
/// pod of the project is left, so nothing reconnects while it goes. Every step is idempotent: a deletion interrupted
/// anywhere resumes from where it stopped. The status says what is left; Ready is never True while deleting.
/// </summary>
internal sealed partial class ProjectFinalizer(
    IKubernetes client, IProjectInfrastructure infrastructure, ProjectConnections connections, ProjectStatusWriter status,
    ILogger<ProjectFinalizer> logger, OperatorMetrics? metrics = null)
{
    private static readonly TimeSpan PodsStoppingRetry = TimeSpan.FromSeconds(3);

    /// <summary>Adds or removes the finalizer to match the deletion policy; returns the project as stored.</summary>
    public async Task<DialogueProject> MatchPolicyAsync(DialogueProject project, CancellationToken cancellationToken)
    {
        var wanted = project.Spec.DeletionPolicy == "Delete";
        var has = project.Metadata.Finalizers?.Contains(Finalizer) == true;
        // Before any outside state exists, so a Delete project can never leave a database behind.
        return wanted == has ? project : await SetAsync(project, wanted, cancellationToken);
    }

    /// <summary>Runs (or resumes) the deletion of a project that is being deleted and still carries the finalizer.</summary>
    public async Task<ReconcileResult> FinalizeAsync(DialogueProject project, ProjectIdentity identity, CancellationToken cancellationToken)
    {
        if (project.Metadata.Finalizers?.Contains(Finalizer) != true)
        {
            return ReconcileResult.Done;
        }

        if (project.Spec.DeletionPolicy == "Delete")
        {
            var running = await StopWorkloadsAsync(project, cancellationToken);
            if (running > 0)
            {
                await status.DeletingAsync(project,
                    $"Waiting for {running} pod(s) of the project to stop; then its database, roles, Redis user and keys are dropped.",
                    degraded: null, cancellationToken);
                return new ReconcileResult(PodsStoppingRetry);
            }

            // A retry after a failed drop keeps the failure (Degraded, what is left) in the status until a drop succeeds:
            // clearing it before each attempt would make the status flap between the two on every retry.
            if (!DropFailed(project))
            {
                project = await status.DeletingAsync(
                    project, "The project's pods are stopped; dropping its database, roles, Redis user and keys.",
                    degraded: null, cancellationToken);
            }

            await OperatorMetrics.ProvisionAsync(metrics, "drop",
                () => infrastructure.DropAsync(identity, ManagesDatabase(project), ManagesRedis(project), cancellationToken));
            connections.Forget(identity);
            LogDropped(logger, project.Metadata.NamespaceProperty, project.Metadata.Name);
        }

        // The commit step: once the data is gone, nothing may stop the finalizer's removal.
        await SetAsync(project, add: false, CancellationToken.None);
        return ReconcileResult.Done;
    }

    /// <summary>Records a failed deletion step: what is left (as far as the servers can tell) and the error, in Degraded.</summary>
    public async Task ReportAsync(DialogueProject project, string reason, string error, CancellationToken cancellationToken)
    {
        string left;
        try
        {
            var remaining = await infrastructure.RemainingAsync(
                ProjectIdentity.For(project.Metadata.NamespaceProperty, project.Metadata.Name),
                ManagesDatabase(project), ManagesRedis(project), cancellationToken);
            left = remaining.Count == 0 ? "nothing on the shared servers" : string.Join(", ", remaining);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            left = "unknown (the shared servers could not be asked)";
        }

        await status.DeletingAsync(project, $"Deleting; left: {left}.", (reason, error), cancellationToken);
    }

    /// <summary>
    /// Scales the API to zero, deletes the indexer, suspends the retention CronJob and deletes the project's Jobs; returns
    /// how many pods remain.
    /// </summary>
    private async Task<int> StopWorkloadsAsync(DialogueProject project, CancellationToken cancellationToken)
    {
        var (ns, name) = (project.Metadata.NamespaceProperty, project.Metadata.Name);
        await KubernetesCalls.IgnoreNotFoundAsync(() => client.AppsV1.PatchNamespacedDeploymentAsync(
            new V1Patch(new { spec = new { replicas = 0 } }, V1Patch.PatchType.MergePatch), Api(name), ns,
            fieldManager: FieldManager, cancellationToken: cancellationToken));
        await KubernetesCalls.IgnoreNotFoundAsync(() => client.AppsV1.DeleteNamespacedDeploymentAsync(
            Indexer(name), ns, propagationPolicy: "Background", cancellationToken: cancellationToken));
        await KubernetesCalls.IgnoreNotFoundAsync(() => client.BatchV1.PatchNamespacedCronJobAsync(
            new V1Patch(new { spec = new { suspend = true } }, V1Patch.PatchType.MergePatch), Retention(name), ns,
            fieldManager: FieldManager, cancellationToken: cancellationToken));

        var selector = $"{ProjectLabel}={name}";
        var jobs = await client.BatchV1.ListNamespacedJobAsync(ns, labelSelector: selector, cancellationToken: cancellationToken);
        foreach (var job in jobs.Items)
        {
            await KubernetesCalls.IgnoreNotFoundAsync(() => client.BatchV1.DeleteNamespacedJobAsync(
                job.Metadata.Name, ns, propagationPolicy: "Background", cancellationToken: cancellationToken));
        }

        var pods = await client.CoreV1.ListNamespacedPodAsync(ns, labelSelector: selector, cancellationToken: cancellationToken);
        return pods.Items.Count;
    }

    /// <summary>A previous attempt of this deletion failed and said so (<see cref="ReportAsync"/>).</summary>
    private static bool DropFailed(DialogueProject project) =>
        Conditions.IsTrue(project, Conditions.Degraded)
        && project.Status?.Conditions?.FirstOrDefault(c => c.Type == Conditions.Ready)?.Reason == "Deleting";

    private static bool ManagesDatabase(DialogueProject project) => project.Spec.Database?.SecretRef is null;

    private static bool ManagesRedis(DialogueProject project) => project.Spec.Redis?.SecretRef is null;

    /// <summary>Adds or removes the finalizer with a resourceVersion precondition (a merge patch; 409 means try again).</summary>
    private async Task<DialogueProject> SetAsync(DialogueProject project, bool add, CancellationToken cancellationToken)
    {
        var finalizers = (project.Metadata.Finalizers ?? []).Where(f => f != Finalizer).ToList();
        if (add)
        {
            finalizers.Add(Finalizer);
        }

        var patch = new { metadata = new { resourceVersion = project.Metadata.ResourceVersion, finalizers } };
        return await client.CustomObjects.PatchNamespacedCustomObjectAsync<DialogueProject>(
            new V1Patch(patch, V1Patch.PatchType.MergePatch), DialogueProject.Group, DialogueProject.Version,
            project.Metadata.NamespaceProperty, DialogueProject.Plural, project.Metadata.Name, cancellationToken: cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Project {Namespace}/{Name}: database, roles, Redis user and keys dropped (deletionPolicy Delete)")]
    private static partial void LogDropped(ILogger logger, string @namespace, string name);
}
