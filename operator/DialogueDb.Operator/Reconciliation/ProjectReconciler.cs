using DialogueDb.Operator.Hosting;
using DialogueDb.Operator.Kubernetes;
using DialogueDb.Operator.Provisioning;
using DialogueDb.Operator.Resources;
using DialogueDb.Service.Security;
using k8s;
using k8s.Autorest;
using k8s.Models;
using static DialogueDb.Operator.Reconciliation.ProjectNaming;
using static DialogueDb.Operator.Reconciliation.SecretData;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>
/// Level-triggered reconcile of one DialogueProject: reads the latest object and converges everything to it, every
/// time, whatever event brought the key here. The steps, in order: deletion and finalizer, suspend, spec check,
/// the customer's referenced Secrets, generated Secrets (created once, never overwritten; rotation only when a counter
/// is raised), connections (the database and Redis user), API keys, the child objects (server-side apply), the search
/// workers (indexer Deployment removal and health, reindex Jobs), status.
/// </summary>
internal sealed partial class ProjectReconciler(
    IKubernetes client,
    OperatorOptions options,
    SpecCheck specCheck,
    ProjectFinalizer finalizer,
    GeneratedSecrets generated,
    ProjectConnections connections,
    ApiKeyIssuer apiKeys,
    SearchWorkers search,
    ProjectStatusWriter status,
    ChildCache children,
    ObjectApplier applier,
    TimeProvider time,
    ILogger<ProjectReconciler> logger)
{
    private static readonly TimeSpan MissingSecretRetry = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ProgressingRetry = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan IndexerRetry = TimeSpan.FromSeconds(30);

    public async Task<ReconcileResult> ReconcileAsync(string ns, string name, CancellationToken cancellationToken)
    {
        if (await client.ReadProjectOrNullAsync(ns, name, cancellationToken) is not { } project)
        {
            // Gone: its children are garbage-collected through their owner references, the protected ones once released.
            await generated.ReleaseAsync(ns, name, cancellationToken);
            return ReconcileResult.Done;
        }

        var identity = ProjectIdentity.For(ns, name);
        if (project.Metadata.DeletionTimestamp is not null)
        {
            return await finalizer.FinalizeAsync(project, identity, cancellationToken);
        }

        project = await finalizer.MatchPolicyAsync(project, cancellationToken);
        if (project.Spec.Suspend == true)
        {
            await status.SuspendedAsync(project, cancellationToken);
            return ReconcileResult.Done;
        }

        if (specCheck.Find(project) is { } problem)
        {
            await status.FailAsync(project, problem.Reason, problem.Message, cancellationToken);
            return ReconcileResult.Done; // Terminal until the spec or the catalog changes (both bring the key back).
        }

        var referenced = await ReferencedSecrets.ReadAsync(client, project, cancellationToken);
        if (referenced.Missing is not null)
        {
            await status.FailAsync(project, "MissingSecret", referenced.Missing, cancellationToken);
            return new ReconcileResult(MissingSecretRetry);
        }

        return await ConvergeAsync(project, identity, referenced, cancellationToken);
    }

    /// <summary>Records a failed reconcile on the project (Degraded, an Event) before the controller retries it.</summary>
    public async Task ReportErrorAsync(string ns, string name, Exception error, CancellationToken cancellationToken)
    {
        try
        {
            var reason = error is Npgsql.NpgsqlException or StackExchange.Redis.RedisException
                ? ProjectStatusWriter.ProvisioningFailed
                : ProjectStatusWriter.ReconcileError;
            var project = await client.ReadProjectOrNullAsync(ns, name, cancellationToken);
            if (project?.Metadata.DeletionTimestamp is not null)
            {
                await finalizer.ReportAsync(project, reason, Describe(error), cancellationToken);
            }
            else if (project is not null)
            {
                await status.FailAsync(project, reason, Describe(error), cancellationToken);
            }
        }
        catch (Exception ex) when (ex is HttpOperationException or HttpRequestException)
        {
            LogReportFailed(logger, ns, name, ex.GetType().Name);
        }
    }

    /// <summary>
    /// An error message that names what failed, with the server's error code and reply where there is one, and never
    /// carries a secret (no connection strings, no bodies, no password rules of an ACL command).
    /// </summary>
    public static string Describe(Exception error) => error switch
    {
        HttpOperationException h =>
            $"The Kubernetes API answered {(int)h.Response.StatusCode} to {h.Request?.Method} {h.Request?.RequestUri?.AbsolutePath}.",
        Npgsql.PostgresException p => $"PostgreSQL refused a provisioning step: {p.SqlState} {p.MessageText}",
        Npgsql.NpgsqlException n =>
            $"PostgreSQL could not be reached for provisioning: {n.InnerException?.GetType().Name ?? n.GetType().Name}.",
        StackExchange.Redis.RedisServerException r => $"Redis refused a provisioning step: {RedactPasswordRules(r.Message)}",
        StackExchange.Redis.RedisConnectionException c => $"Redis could not be reached for provisioning: {c.FailureType}.",
        StackExchange.Redis.RedisException => "Redis refused or could not be reached for provisioning.",
        _ => error.GetType().Name + ": " + error.Message,
    };

    /// <summary>ACL errors can echo a rule; password rules (<c>&gt;clear</c>, <c>#sha256</c>) never reach a status or log.</summary>
    private static string RedactPasswordRules(string reply) => PasswordRule().Replace(reply, "[redacted]");

    [System.Text.RegularExpressions.GeneratedRegex(@"[#><!][^\s']+")]
    private static partial System.Text.RegularExpressions.Regex PasswordRule();

    private async Task<ReconcileResult> ConvergeAsync(
        DialogueProject project, ProjectIdentity identity, ReferencedSecrets referenced, CancellationToken cancellationToken)
    {
        var (ns, name) = (project.Metadata.NamespaceProperty, project.Metadata.Name);
        var planName = project.Spec.Plan ?? options.DefaultPlan;
        var effective = ProjectPolicy.Effective(planName, options.Plans[planName], project.Spec);

        var credentials = await generated.EnsureCredentialsAsync(project, cancellationToken);
        var passwords = new ProjectPasswords(
            Text(credentials, "postgres-owner-password"), Text(credentials, "postgres-api-password"),
            Text(credentials, "postgres-maintenance-password"), Text(credentials, "redis-password"));
        var hasher = new ApiKeyHasher(Convert.FromBase64String(Text(credentials, "api-key-hash-secret")));

        var connection = await connections.EnsureAsync(project, identity, passwords, credentials, referenced, cancellationToken);
        var encryption = await generated.EnsureEncryptionAsync(project, cancellationToken);
        var eventKeyActivation = await generated.EnsureEventsKeyAsync(project, cancellationToken);
        var tls = await generated.EnsureTlsAsync(project, credentials, referenced, cancellationToken);
        var endpoint = Endpoint(project, options.ClusterDomain);
        var keys = await apiKeys.EnsureAsync(project, hasher, endpoint, tls.CaCertificatePem, cancellationToken);

        var policy = ProjectPolicy.Document(identity, effective, keys, time.GetUtcNow(), project.Spec.Summaries);
        var replicas = project.Spec.Replicas ?? options.Plans[planName].Replicas;
        var inputs = new ProjectInputs
        {
            Project = project,
            Options = options,
            Replicas = replicas,
            Image = project.Spec.Image ?? options.DefaultImage,
            ApiDatabase = connection.Api,
            OwnerDatabase = connection.Owner,
            MaintenanceDatabase = connection.Maintenance,
            ApiRole = connection.ApiRole,
            MaintenanceRole = connection.MaintenanceRole,
            Redis = connection.Redis,
            RedisKeyPrefix = identity.RedisKeyPrefix,
            EncryptionKeys = encryption.Secret,
            ApiKeyHashSecret = new SecretValue(Credentials(name), "api-key-hash-secret"),
            TlsSecretName = tls.SecretName,
            PolicyJson = policy.ToJson(),
            ConfigHash = connection.Hash,
        };

        V1Deployment? deployment = null;
        V1Deployment? indexer = null;
        foreach (var desired in DesiredState.Build(inputs))
        {
            var stored = await applier.ApplyAsync(desired, children.Get(desired.Kind, ns, desired.Metadata.Name), cancellationToken);
            deployment = stored is V1Deployment d && d.Metadata.Name == Api(name) ? d : deployment;
            indexer = stored is V1Deployment i && i.Metadata.Name == Indexer(name) ? i : indexer;
        }

        if (replicas <= 1 && children.Get("PodDisruptionBudget", ns, Api(name)) is not null)
        {
            await KubernetesCalls.IgnoreNotFoundAsync(() =>
                client.PolicyV1.DeleteNamespacedPodDisruptionBudgetAsync(Api(name), ns, cancellationToken: cancellationToken));
        }

        await search.RemoveIndexerUnlessExternalAsync(project, cancellationToken);
        var indexerHealth = await search.ObserveIndexerAsync(project, indexer, cancellationToken);
        var reindex = await search.EnsureReindexAsync(inputs, cancellationToken);
        var cronJob = children.Get("CronJob", ns, Retention(name)) as V1CronJob;
        var converged = new ConvergedProject(endpoint, replicas, effective, keys, encryption.Secret, connection.Hash, deployment, cronJob)
        {
            Reindex = reindex,
            Indexer = indexerHealth,
        };
        var rollingOut = await status.ConvergedAsync(project, converged, cancellationToken);

        TimeSpan? requeue = rollingOut ? ProgressingRetry : null;
        if (indexerHealth is { Ready: false })
        {
            // The indexer's pods are not watched: look again to follow a crash loop or its recovery.
            requeue = ReconcileResult.Earliest(requeue, IndexerRetry);
        }

        var graceEnds = keys.Where(k => k.PreviousValidUntil is not null).Select(k => k.PreviousValidUntil!.Value).DefaultIfEmpty().Min();
        if (graceEnds != default)
        {
            requeue = ReconcileResult.Earliest(requeue, graceEnds - time.GetUtcNow() + TimeSpan.FromSeconds(1));
        }

        foreach (var activation in new[] { encryption.ActivatesAt, eventKeyActivation }.OfType<DateTimeOffset>())
        {
            requeue = ReconcileResult.Earliest(requeue, activation - time.GetUtcNow() + TimeSpan.FromSeconds(1));
        }

        return new ReconcileResult(requeue);
    }
}
