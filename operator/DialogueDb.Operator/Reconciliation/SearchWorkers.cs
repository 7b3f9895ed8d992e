using System.Net;
using DialogueDb.Operator.Kubernetes;
using DialogueDb.Operator.Resources;
using k8s;
using k8s.Autorest;
using k8s.Models;
using static DialogueDb.Operator.Reconciliation.ProjectNaming;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>
/// The search step, after the desired objects are applied: the indexer Deployment goes when the project is back to
/// the in-process indexer (or search is off), its health becomes the <c>SearchIndexerReady</c> condition, and each new value of <c>spec.search.reindex</c> gets one reindex Job.
/// A Job is created once: the status records the request it was created for, so neither a resync nor the Job's
/// deletion after its TTL brings it back. A Job that goes while the status still says Running (deleted by hand,
/// garbage-collected) ends the request as Failed, reason <see cref="JobDeleted"/>; only a higher value runs it again.
/// Reads come from the watched copies; a resync with nothing new writes nothing.
/// </summary>
internal sealed class SearchWorkers(IKubernetes client, ChildCache children)
{
    public const string Pending = "Pending";
    public const string Running = "Running";
    public const string Succeeded = "Succeeded";
    public const string Failed = "Failed";

    /// <summary>The reason of a request whose Job disappeared before it finished.</summary>
    public const string JobDeleted = "JobDeleted";

    /// <summary>Deletes the indexer Deployment when the project no longer asks for one.</summary>
    public async Task RemoveIndexerUnlessExternalAsync(DialogueProject project, CancellationToken cancellationToken)
    {
        var (ns, name) = (project.Metadata.NamespaceProperty, project.Metadata.Name);
        if (!DesiredState.ExternalIndexer(project.Spec) && children.Get("Deployment", ns, Indexer(name)) is not null)
        {
            await KubernetesCalls.IgnoreNotFoundAsync(() =>
                client.AppsV1.DeleteNamespacedDeploymentAsync(Indexer(name), ns, propagationPolicy: "Background", cancellationToken: cancellationToken));
        }
    }

    /// <summary>
    /// The <c>SearchIndexerReady</c> condition of the external indexer (null: the project runs none). Pods are not
    /// watched: they are listed only while the Deployment is short of available pods, to name why.
    /// </summary>
    public async Task<IndexerCondition?> ObserveIndexerAsync(
        DialogueProject project, V1Deployment? deployment, CancellationToken cancellationToken)
    {
        if (!DesiredState.ExternalIndexer(project.Spec))
        {
            return null;
        }

        var health = IndexerHealth.Of(deployment, []);
        if (health.Ready || deployment is null)
        {
            return health;
        }

        var selector = $"{ProjectLabel}={project.Metadata.Name},{ComponentLabel}={DesiredState.IndexerComponent}";
        var pods = await client.CoreV1.ListNamespacedPodAsync(
            project.Metadata.NamespaceProperty, labelSelector: selector, cancellationToken: cancellationToken);
        return IndexerHealth.Of(deployment, [.. pods.Items]);
    }

    /// <summary>Creates the Job of a new reindex request; returns what <c>status.search.reindex</c> should say (null: nothing asked).</summary>
    public async Task<ReindexStatus?> EnsureReindexAsync(ProjectInputs inputs, CancellationToken cancellationToken)
    {
        var project = inputs.Project;
        var ns = project.Metadata.NamespaceProperty;
        var requested = project.Spec.Search?.Reindex ?? 0;
        var reported = project.Status?.Search?.Reindex;
        if (requested <= 0)
        {
            return reported;
        }

        if (reported is { Job: { } reportedJob, Request: { } reportedRequest } && reportedRequest >= requested)
        {
            // Nothing new: the outcome of the last Job, as reported once Kubernetes has deleted it.
            if (children.Get("Job", ns, reportedJob) is V1Job watched)
            {
                return Outcome(reportedRequest, watched);
            }

            if (reported.State != Running)
            {
                return reported;
            }

            // Not watched, but it may be too new for the watch: only the API server can say it is gone.
            return await ReadJobOrNullAsync(ns, reportedJob, cancellationToken) is { } live
                ? Outcome(reportedRequest, live)
                : Deleted(reportedRequest, reportedJob);
        }

        if (!DesiredState.SearchEnabled(project.Spec))
        {
            return new ReindexStatus
            {
                Request = requested, State = Pending, Reason = "SearchOff",
                Message = "Search is off (spec.search.enabled: false): the rebuild runs once it is on.",
            };
        }

        var job = DesiredState.ReindexJob(inputs, requested);
        var existing = children.Get("Job", ns, job.Metadata.Name) as V1Job;
        if (existing is null)
        {
            try
            {
                existing = await client.BatchV1.CreateNamespacedJobAsync(job, ns, fieldManager: FieldManager, cancellationToken: cancellationToken);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
            {
                // An earlier attempt created it and failed before the status said so; its watch event brings it back here.
            }
        }

        return existing is null
            ? new ReindexStatus { Request = requested, Job = job.Metadata.Name, State = Running, Reason = JobRunning, Message = RunningMessage }
            : Outcome(requested, existing);
    }

    private const string JobRunning = "JobRunning";
    private const string RunningMessage = "Rebuilding the search index from the stored data.";

    private async Task<V1Job?> ReadJobOrNullAsync(string ns, string name, CancellationToken cancellationToken)
    {
        try
        {
            return await client.BatchV1.ReadNamespacedJobAsync(name, ns, cancellationToken: cancellationToken);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private static ReindexStatus Deleted(int request, string job) => new()
    {
        Request = request,
        Job = job,
        State = Failed,
        Reason = JobDeleted,
        Message = $"The Job {job} disappeared before the operator saw it finish (deleted by hand or garbage-collected); the rebuild may be incomplete. Raise spec.search.reindex to run it again.",
    };

    private static ReindexStatus Outcome(int request, V1Job job)
    {
        var conditions = job.Status?.Conditions ?? [];
        var complete = conditions.FirstOrDefault(c => c.Type == "Complete" && c.Status == "True");
        var failed = conditions.FirstOrDefault(c => c.Type == "Failed" && c.Status == "True");
        return new ReindexStatus
        {
            Request = request,
            Job = job.Metadata.Name,
            State = complete is not null ? Succeeded : failed is not null ? Failed : Running,
            Reason = complete is not null ? "JobComplete" : failed is not null ? failed.Reason ?? "JobFailed" : JobRunning,
            Message = complete is not null ? "The search index is rebuilt."
                : failed is not null ? $"The Job failed ({failed.Reason}): {failed.Message}"
                : RunningMessage,
            CompletionTime = job.Status?.CompletionTime ?? failed?.LastTransitionTime,
        };
    }
}
