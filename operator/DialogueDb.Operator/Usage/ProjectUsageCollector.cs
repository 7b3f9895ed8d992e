using System.Globalization;
using DialogueDb.Operator.Hosting;
using DialogueDb.Operator.Kubernetes;
using DialogueDb.Operator.Provisioning;
using DialogueDb.Operator.Reconciliation;
using DialogueDb.Operator.Resources;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace DialogueDb.Operator.Usage;

/// <summary>
/// Fills <c>status.usage</c>: every <see cref="OperatorOptions.UsageSeconds"/> (a minute by default) it reads the usage
/// documents the projects' pods publish to their Redis keys — one pipelined round trip for all projects, with the
/// operator's admin connection — and patches the status of each project whose numbers changed, with its own field
/// manager and only the <c>usage</c> field, so it never races the reconciler's status. Cost per interval: one Redis
/// round trip and one status patch per changed project; no database connection and no reconcile (status-only events
/// do not enqueue). Projects on their own Redis (<c>spec.redis.secretRef</c>) are not read: the operator has no admin
/// connection there.
/// </summary>
internal sealed partial class ProjectUsageCollector(
    IKubernetes client, IProjectInfrastructure infrastructure, OperatorOptions options, TimeProvider time,
    ILogger<ProjectUsageCollector> logger, OperatorMetrics? metrics = null)
{
    /// <summary>The field manager of <c>status.usage</c> (the reconciler's status fields belong to <see cref="ProjectNaming.FieldManager"/>).</summary>
    public const string FieldManager = ProjectNaming.FieldManager + "-usage";

    /// <summary>Collects once an interval until cancelled; <paramref name="projects"/> is the controller's watch cache.</summary>
    public async Task RunAsync(Func<IReadOnlyCollection<DialogueProject>> projects, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.UsageSeconds), time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                await CollectAsync(projects(), cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>One round: reads every project's published usage and writes the changed ones; returns how many were written.</summary>
    public async Task<int> CollectAsync(IReadOnlyCollection<DialogueProject> projects, CancellationToken cancellationToken)
    {
        if (!infrastructure.ManagesRedis)
        {
            return 0;
        }

        var read = projects
            .Where(p => p.Metadata.DeletionTimestamp is null && p.Spec?.Redis?.SecretRef is null && p.Status?.Effective is not null)
            .ToList();
        if (read.Count == 0)
        {
            return 0;
        }

        IReadOnlyList<string?> documents;
        try
        {
            documents = await infrastructure.ReadPublishedUsageAsync(
                [.. read.Select(p => ProjectIdentity.For(p.Metadata.NamespaceProperty, p.Metadata.Name))], cancellationToken);
            metrics?.UsageRead(succeeded: true);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            metrics?.UsageRead(succeeded: false);
            LogReadFailed(logger, ex.GetType().Name);
            return 0;
        }

        var month = time.GetUtcNow().ToString("yyyy-MM", CultureInfo.InvariantCulture);
        var written = 0;
        for (var i = 0; i < read.Count; i++)
        {
            var project = read[i];
            if (PublishedUsage.Parse(documents[i]) is not { } published)
            {
                continue;
            }

            var usage = UsageStatus.For(published, project.Status!.Effective!, month);
            if (Unchanged(project.Status.Usage, usage))
            {
                continue;
            }

            try
            {
                await WriteAsync(project, usage, cancellationToken);
                metrics?.UsageUpdated();
                written++;
            }
            catch (Exception ex) when (ex is HttpOperationException or HttpRequestException)
            {
                // Deleted meanwhile, or the server is busy: the next round tries again with what is current then.
                LogWriteFailed(logger, project.Metadata.NamespaceProperty, project.Metadata.Name,
                    ex is HttpOperationException http ? ((int)http.Response.StatusCode).ToString(CultureInfo.InvariantCulture) : ex.GetType().Name);
            }
        }

        return written;
    }

    /// <summary>
    /// Same numbers, limits and month: nothing to write, whatever the count's time (pods republish every minute; writing
    /// only changes keeps idle projects at zero writes).
    /// </summary>
    private static bool Unchanged(ProjectUsage? stored, ProjectUsage usage) =>
        stored is not null && KubernetesJson.Serialize(WithoutTime(stored)) == KubernetesJson.Serialize(WithoutTime(usage));

    private static ProjectUsage WithoutTime(ProjectUsage usage) => new()
    {
        Period = usage.Period, Highest = usage.Highest, Dialogues = usage.Dialogues, Messages = usage.Messages,
        Requests = usage.Requests, Memories = usage.Memories,
    };

    private Task<DialogueProject> WriteAsync(DialogueProject project, ProjectUsage usage, CancellationToken cancellationToken)
    {
        var body = new DialogueProject
        {
            Metadata = new V1ObjectMeta { Name = project.Metadata.Name, NamespaceProperty = project.Metadata.NamespaceProperty },
            Spec = null!,
            Status = new DialogueProjectStatus { Usage = usage },
        };
        return client.CustomObjects.PatchNamespacedCustomObjectStatusAsync<DialogueProject>(
            new V1Patch(body, V1Patch.PatchType.ApplyPatch), DialogueProject.Group, DialogueProject.Version,
            project.Metadata.NamespaceProperty, DialogueProject.Plural, project.Metadata.Name,
            fieldManager: FieldManager, force: true, cancellationToken: cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not read the projects' plan usage from Redis ({Error}); next interval")]
    private static partial void LogReadFailed(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not write the plan usage of {Namespace}/{Name} ({Error}); next interval")]
    private static partial void LogWriteFailed(ILogger logger, string @namespace, string name, string error);
}
