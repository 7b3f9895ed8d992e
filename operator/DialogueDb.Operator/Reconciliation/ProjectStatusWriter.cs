using System.Globalization;
using System.Text.Json;
using DialogueDb.Operator.Kubernetes;
using DialogueDb.Operator.Resources;
using k8s;
using k8s.Models;
using static DialogueDb.Operator.Reconciliation.ProjectNaming;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>What a reconcile that got through every step knows about the project, for its status.</summary>
internal sealed record ConvergedProject(
    string Endpoint, int Replicas, EffectivePlan Effective, IReadOnlyList<IssuedKey> Keys, SecretValue Encryption, string ConfigHash,
    V1Deployment? Deployment, V1CronJob? CronJob)
{
    /// <summary>What <c>status.search.reindex</c> says (null: no rebuild was ever asked for).</summary>
    public ReindexStatus? Reindex { get; init; }

    /// <summary>The <c>SearchIndexerReady</c> condition (null: no external indexer, no condition).</summary>
    public IndexerCondition? Indexer { get; init; }
}

/// <summary>
/// The status step: conditions (Ready, Progressing, Degraded; SearchIndexerReady with an external indexer) and the facts clients read, written with server-side
/// apply on the status subresource and only when they changed. Failures also become a Warning Event.
/// </summary>
internal sealed partial class ProjectStatusWriter(
    IKubernetes client, EventRecorder events, TimeProvider time, ILogger<ProjectStatusWriter> logger)
{
    /// <summary>A reconcile failed (e.g. the Kubernetes API answered an error); the pods keep serving what they have.</summary>
    public const string ReconcileError = "ReconcileError";

    /// <summary>PostgreSQL or Redis refused or could not be reached; the message has the server's error code and reply.</summary>
    public const string ProvisioningFailed = "ProvisioningFailed";

    private static readonly JsonSerializerOptions StatusJson = new(JsonSerializerDefaults.Web);

    public Task<DialogueProject> SuspendedAsync(
        DialogueProject project, CancellationToken cancellationToken) => WriteAsync(project, Status(project, s =>
    {
        s.Conditions = Conditions.Set(project.Status?.Conditions, project.Metadata.Generation, time.GetUtcNow(),
            (Conditions.Ready, false, "Suspended", "spec.suspend is true: the operator leaves the project's objects as they are."),
            (Conditions.Progressing, false, "Suspended", "Suspended."),
            (Conditions.Degraded, false, "Suspended", "Suspended."));
    }), cancellationToken);

    /// <summary>
    /// The status of a project being deleted: never Ready, Progressing with what is happening and what is left, and
    /// Degraded with the last error (reason, message) when a step failed.
    /// </summary>
    public async Task<DialogueProject> DeletingAsync(
        DialogueProject project, string progress, (string Reason, string Message)? degraded, CancellationToken cancellationToken)
    {
        if (degraded is { } failure)
        {
            LogDegraded(logger, project.Metadata.NamespaceProperty, project.Metadata.Name, failure.Reason, failure.Message);
            await events.RecordAsync(project, "Warning", failure.Reason, failure.Message, cancellationToken);
        }

        return await WriteAsync(project, Status(project, s =>
        {
            s.Conditions = Conditions.Set(project.Status?.Conditions, project.Metadata.Generation, time.GetUtcNow(),
                (Conditions.Ready, false, "Deleting", "The project is being deleted."),
                (Conditions.Progressing, true, "Deleting", progress),
                degraded is { } d ? (Conditions.Degraded, true, d.Reason, d.Message) : (Conditions.Degraded, false, "Deleting", progress));
        }), cancellationToken);
    }

    /// <summary>Records a problem: Degraded with the reason, a Warning Event, and a log line.</summary>
    public async Task FailAsync(DialogueProject project, string reason, string message, CancellationToken cancellationToken)
    {
        LogDegraded(logger, project.Metadata.NamespaceProperty, project.Metadata.Name, reason, message);
        await events.RecordAsync(project, "Warning", reason, message, cancellationToken);
        await WriteAsync(project, Status(project, s =>
        {
            s.Conditions =
            [
                .. Conditions.Set(project.Status?.Conditions, project.Metadata.Generation, time.GetUtcNow(),
                    (Conditions.Ready, Conditions.IsTrue(project, Conditions.Ready) && reason is ReconcileError or ProvisioningFailed,
                        reason, message),
                    (Conditions.Progressing, false, reason, message),
                    (Conditions.Degraded, true, reason, message)),
                // The indexer was not looked at this time: its last observation stands.
                .. Conditions.Kept(project, Conditions.SearchIndexerReady),
            ];
        }), cancellationToken);
    }

    /// <summary>Writes the status of a project whose objects are all in place; returns whether the rollout is still going.</summary>
    public async Task<bool> ConvergedAsync(DialogueProject project, ConvergedProject converged, CancellationToken cancellationToken)
    {
        var name = project.Metadata.Name;
        var deployment = converged.Deployment;
        var replicas = converged.Replicas;
        var ready = deployment?.Status?.ReadyReplicas ?? 0;
        var updated = deployment?.Status?.UpdatedReplicas ?? 0;
        var rolledOut = deployment is not null
            && deployment.Status?.ObservedGeneration >= deployment.Metadata.Generation
            && updated >= replicas && ready >= replicas;
        var available = replicas == 0 || ready > 0;
        var status = Status(project, s =>
        {
            s.Endpoint = converged.Endpoint;
            s.Replicas = replicas;
            s.ReadyReplicas = ready;
            s.Effective = converged.Effective;
            s.ApiKeys = converged.Keys.Select(k => new ApiKeyStatus
            {
                Name = k.Name, SecretName = ApiKey(name, k.Name), Scope = k.Scope, Rotation = k.Rotation, IssuedAt = k.IssuedAt,
            }).ToList();
            s.EncryptionKeySecret = converged.Encryption.SecretName;
            s.Search = converged.Reindex is null ? s.Search : new SearchStatus { Reindex = converged.Reindex };
            s.ConfigHash = converged.ConfigHash;
            s.LastRetentionRun = converged.CronJob?.Status is { } cron
                && (cron.LastScheduleTime is not null || cron.LastSuccessfulTime is not null)
                ? new RetentionRunStatus { LastScheduleTime = cron.LastScheduleTime, LastSuccessfulTime = cron.LastSuccessfulTime }
                : project.Status?.LastRetentionRun;
            var conditions = Conditions.Set(project.Status?.Conditions, project.Metadata.Generation, time.GetUtcNow(),
                (Conditions.Ready, available && rolledOut, rolledOut ? "Available" : "RollingOut",
                    string.Create(CultureInfo.InvariantCulture, $"{ready}/{replicas} API pods ready.")),
                (Conditions.Progressing, !rolledOut, rolledOut ? "RolloutComplete" : "RollingOut",
                    rolledOut ? "Every object is in place." : "Waiting for the API pods."),
                (Conditions.Degraded, false, "AsExpected", "Reconciled without errors."));
            if (converged.Indexer is { } indexer)
            {
                conditions.AddRange(Conditions.Set(project.Status?.Conditions, project.Metadata.Generation, time.GetUtcNow(),
                    (Conditions.SearchIndexerReady, indexer.Ready, indexer.Reason, indexer.Message)));
            }

            s.Conditions = conditions;
        });
        await WriteAsync(project, status, cancellationToken);
        return !rolledOut;
    }

    /// <summary>
    /// A copy of the project's status with the observed generation set and <paramref name="change"/> applied. Without
    /// <c>usage</c>: that field belongs to <see cref="Usage.ProjectUsageCollector"/>'s field manager, and a copy read
    /// before its last write would put older numbers back.
    /// </summary>
    public static DialogueProjectStatus Status(DialogueProject project, Action<DialogueProjectStatus> change)
    {
        var status = Copy(project.Status);
        status.ObservedGeneration = project.Metadata.Generation;
        change(status);
        return status;
    }

    private static DialogueProjectStatus Copy(DialogueProjectStatus? status)
    {
        var copy = status is null
            ? new DialogueProjectStatus()
            : JsonSerializer.Deserialize<DialogueProjectStatus>(KubernetesJson.Serialize(status), StatusJson)!;
        copy.Usage = null;
        return copy;
    }

    /// <summary>
    /// Writes the status with server-side apply on the status subresource, only when it changed; returns the stored
    /// project.
    /// </summary>
    public async Task<DialogueProject> WriteAsync(
        DialogueProject project, DialogueProjectStatus status, CancellationToken cancellationToken)
    {
        if (project.Status is not null && KubernetesJson.Serialize(Copy(project.Status)) == KubernetesJson.Serialize(status))
        {
            return project;
        }

        var body = new DialogueProject
        {
            Metadata = new V1ObjectMeta { Name = project.Metadata.Name, NamespaceProperty = project.Metadata.NamespaceProperty },
            Spec = null!,
            Status = status,
        };
        return await client.CustomObjects.PatchNamespacedCustomObjectStatusAsync<DialogueProject>(
            new V1Patch(body, V1Patch.PatchType.ApplyPatch), DialogueProject.Group, DialogueProject.Version,
            project.Metadata.NamespaceProperty, DialogueProject.Plural, project.Metadata.Name,
            fieldManager: FieldManager, force: true, cancellationToken: cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Project {Namespace}/{Name} is degraded: {Reason}: {Detail}")]
    private static partial void LogDegraded(ILogger logger, string @namespace, string name, string reason, string detail);
}
