using System.Globalization;
using k8s.Models;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>What the <c>SearchIndexerReady</c> condition says: status, a machine reason and a message for humans.</summary>
internal sealed record IndexerCondition(bool Ready, string Reason, string Message);

/// <summary>
/// The indexer Deployment's health, from its status and, when it is short of available pods, from its pods: a
/// container's waiting reason (CrashLoopBackOff, ImagePullBackOff, CreateContainerConfigError, …) says more than
/// "0 available", then an unschedulable pod, then the Deployment's own failure conditions (ReplicaFailure,
/// ProgressDeadlineExceeded). Pure: the caller reads the objects. Messages carry no counters that change on every
/// restart, so a crash loop does not rewrite the status each time.
/// </summary>
internal static class IndexerHealth
{
    public const string Available = "Available";
    public const string ScaledToZero = "ScaledToZero";
    public const string Starting = "Starting";

    /// <summary>Waiting reasons of a container that is merely starting; anything else is a problem worth naming.</summary>
    private static readonly HashSet<string> StartingReasons = new(StringComparer.Ordinal) { "ContainerCreating", "PodInitializing" };

    public static IndexerCondition Of(V1Deployment? deployment, IReadOnlyCollection<V1Pod> pods)
    {
        if (deployment is null)
        {
            return new IndexerCondition(false, Starting, "The indexer Deployment is being created.");
        }

        var wanted = deployment.Spec?.Replicas ?? 1;
        if (wanted == 0)
        {
            return new IndexerCondition(true, ScaledToZero, "The project is scaled to zero: no indexer runs.");
        }

        var available = deployment.Status?.AvailableReplicas ?? 0;
        var observed = deployment.Status?.ObservedGeneration >= deployment.Metadata.Generation;
        var counted = string.Create(CultureInfo.InvariantCulture, $"{available}/{wanted} indexer pods available.");
        if (observed && available >= wanted)
        {
            return new IndexerCondition(true, Available, counted);
        }

        if (PodProblem(pods) is { } problem)
        {
            return problem with { Message = counted + " " + problem.Message };
        }

        var conditions = deployment.Status?.Conditions ?? [];
        var failure = conditions.FirstOrDefault(c => c.Type == "ReplicaFailure" && c.Status == "True")
            ?? conditions.FirstOrDefault(c => c.Type == "Progressing" && c.Status == "False");
        return failure is not null
            ? new IndexerCondition(false, failure.Reason ?? failure.Type, $"{counted} {failure.Message}".TrimEnd())
            : new IndexerCondition(false, Starting, counted);
    }

    private static IndexerCondition? PodProblem(IReadOnlyCollection<V1Pod> pods)
    {
        foreach (var pod in pods.Where(p => p.Metadata.DeletionTimestamp is null).OrderBy(p => p.Metadata.Name, StringComparer.Ordinal))
        {
            var statuses = (pod.Status?.InitContainerStatuses ?? []).Concat(pod.Status?.ContainerStatuses ?? []);
            foreach (var container in statuses)
            {
                if (container.State?.Waiting is { Reason: { } reason } waiting && !StartingReasons.Contains(reason))
                {
                    var last = container.LastState?.Terminated is { } t
                        ? string.Create(CultureInfo.InvariantCulture, $" It last exited with {t.ExitCode} ({t.Reason ?? "no reason"}).")
                        : "";
                    var detail = reason == "CrashLoopBackOff" || string.IsNullOrEmpty(waiting.Message) ? "" : $": {waiting.Message}";
                    return new IndexerCondition(false, reason, $"Pod {pod.Metadata.Name}, container {container.Name}: {reason}{detail}.{last}");
                }
            }

            var unscheduled = pod.Status?.Conditions?.FirstOrDefault(c => c.Type == "PodScheduled" && c.Status == "False");
            if (unscheduled is not null)
            {
                return new IndexerCondition(false, unscheduled.Reason ?? "Unschedulable",
                    $"Pod {pod.Metadata.Name} is not scheduled: {unscheduled.Message}".TrimEnd(' ', ':'));
            }
        }

        return null;
    }
}
