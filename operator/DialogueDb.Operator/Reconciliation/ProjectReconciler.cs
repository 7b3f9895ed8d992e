using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Cronos;
using DialogueDb.Operator.Hosting;
using DialogueDb.Operator.Kubernetes;
using DialogueDb.Operator.Provisioning;
using DialogueDb.Operator.Resources;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Security;
using k8s;
using k8s.Autorest;
using k8s.Models;
using static DialogueDb.Operator.Reconciliation.ProjectNaming;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>What the controller does with a key after a reconcile: nothing (watches and resync bring it back) or requeue after a delay.</summary>
internal readonly record struct ReconcileResult(TimeSpan? RequeueAfter)
{
    public static ReconcileResult Done => new(null);
}

/// <summary>
/// Level-triggered reconcile of one DialogueProject: reads the latest object and converges everything to it, every
/// time, whatever event brought the key here. Order: deletion and finalizer, suspend, plan and references, generated
/// Secrets (created once, never overwritten; rotation only when a counter is raised), the database and Redis user,
/// API keys, the child objects (server-side apply), and last the status.
/// </summary>
internal sealed partial class ProjectReconciler(
    IKubernetes client,
    OperatorOptions options,
    IProjectInfrastructure infrastructure,
    IChildLookup children,
    ObjectApplier applier,
    EventRecorder events,
    TimeProvider time,
    ILogger<ProjectReconciler> logger)
{
    private static readonly TimeSpan MissingSecretRetry = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ProgressingRetry = TimeSpan.FromSeconds(15);
    private readonly Dictionary<string, (string Version, DateTimeOffset At)> _provisioned = [];

    public async Task<ReconcileResult> ReconcileAsync(string ns, string name, CancellationToken cancellationToken)
    {
        if (await ReadProjectAsync(ns, name, cancellationToken).ConfigureAwait(false) is not { } project)
        {
            return ReconcileResult.Done; // Gone: its children are garbage-collected through their owner references.
        }

        var identity = ProjectNames.For(ns, name);
        if (project.Metadata.DeletionTimestamp is not null)
        {
            await FinalizeAsync(project, identity, cancellationToken).ConfigureAwait(false);
            return ReconcileResult.Done;
        }

        var wantsFinalizer = project.Spec.DeletionPolicy == "Delete";
        var hasFinalizer = project.Metadata.Finalizers?.Contains(Finalizer) == true;
        if (wantsFinalizer != hasFinalizer)
        {
            // Before any outside state exists, so a Delete project can never leave a database behind.
            project = await SetFinalizerAsync(project, wantsFinalizer, cancellationToken).ConfigureAwait(false);
        }

        if (project.Spec.Suspend == true)
        {
            await WriteStatusAsync(project, Status(project, s =>
            {
                s.Conditions = Conditions.Set(project.Status?.Conditions, project.Metadata.Generation, time.GetUtcNow(),
                    (Conditions.Ready, false, "Suspended", "spec.suspend is true: the operator leaves the project's objects as they are."),
                    (Conditions.Progressing, false, "Suspended", "Suspended."),
                    (Conditions.Degraded, false, "Suspended", "Suspended."));
            }), cancellationToken).ConfigureAwait(false);
            return ReconcileResult.Done;
        }

        if (Invalid(project) is { } problem)
        {
            await FailAsync(project, problem.Reason, problem.Message, cancellationToken).ConfigureAwait(false);
            return ReconcileResult.Done; // Terminal until the spec or the catalog changes (both bring the key back).
        }

        var planName = project.Spec.Plan ?? options.DefaultPlan;
        var effective = Effective(planName, options.Plans[planName], project.Spec);

        var (missing, referenced) = await ReadReferencesAsync(project, cancellationToken).ConfigureAwait(false);
        if (missing is not null)
        {
            await FailAsync(project, "MissingSecret", missing, cancellationToken).ConfigureAwait(false);
            return new ReconcileResult(MissingSecretRetry);
        }

        var credentials = await EnsureCredentialsAsync(project, cancellationToken).ConfigureAwait(false);
        var passwords = new ProjectPasswords(
            Text(credentials, "postgres-owner-password"), Text(credentials, "postgres-api-password"),
            Text(credentials, "postgres-maintenance-password"), Text(credentials, "redis-password"));
        var hasher = new ApiKeyHasher(Convert.FromBase64String(Text(credentials, "api-key-hash-secret")));

        var connection = await ConnectionsAsync(project, identity, passwords, credentials, referenced, cancellationToken).ConfigureAwait(false);
        var encryption = await EnsureEncryptionAsync(project, cancellationToken).ConfigureAwait(false);
        var tls = await EnsureTlsAsync(project, credentials, referenced, cancellationToken).ConfigureAwait(false);
        var endpoint = Endpoint(project, options.ClusterDomain);
        var keys = await EnsureApiKeysAsync(project, hasher, endpoint, tls.CaCertificatePem, cancellationToken).ConfigureAwait(false);

        var graceEnds = keys.Where(k => k.PreviousValidUntil is not null).Select(k => k.PreviousValidUntil!.Value).DefaultIfEmpty().Min();
        var policy = PolicyDocument(identity, effective, keys, time.GetUtcNow());
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
            EncryptionKeys = encryption,
            ApiKeyHashSecret = new SecretValue(Credentials(name), "api-key-hash-secret"),
            TlsSecretName = tls.SecretName,
            PolicyJson = policy.ToJson(),
            ConfigHash = connection.Hash,
        };

        V1Deployment? deployment = null;
        foreach (var desired in DesiredState.Build(inputs))
        {
            var live = children.Get(desired.Kind, ns, desired.Metadata.Name);
            var stored = await applier.ApplyAsync(desired, live, cancellationToken).ConfigureAwait(false);
            deployment = stored as V1Deployment ?? deployment;
        }

        if (replicas <= 1 && children.Get("PodDisruptionBudget", ns, Api(name)) is not null)
        {
            await DeleteIgnoringMissingAsync(() => client.PolicyV1.DeleteNamespacedPodDisruptionBudgetAsync(Api(name), ns, cancellationToken: cancellationToken)).ConfigureAwait(false);
        }

        var cronJob = children.Get("CronJob", ns, Retention(name)) as V1CronJob;
        var status = Status(project, s =>
        {
            var ready = deployment?.Status?.ReadyReplicas ?? 0;
            var updated = deployment?.Status?.UpdatedReplicas ?? 0;
            var rolledOut = deployment is not null
                && deployment.Status?.ObservedGeneration >= deployment.Metadata.Generation
                && updated >= replicas && ready >= replicas;
            var available = replicas == 0 || ready > 0;
            s.Endpoint = endpoint;
            s.Replicas = replicas;
            s.ReadyReplicas = ready;
            s.Effective = effective;
            s.ApiKeys = keys.Select(k => new ApiKeyStatus { Name = k.Name, SecretName = ApiKey(name, k.Name), Scope = k.Scope, Rotation = k.Rotation, IssuedAt = k.IssuedAt }).ToList();
            s.EncryptionKeySecret = encryption.SecretName;
            s.ConfigHash = connection.Hash;
            s.LastRetentionRun = cronJob?.Status is { } cron && (cron.LastScheduleTime is not null || cron.LastSuccessfulTime is not null)
                ? new RetentionRunStatus { LastScheduleTime = cron.LastScheduleTime, LastSuccessfulTime = cron.LastSuccessfulTime }
                : project.Status?.LastRetentionRun;
            s.Conditions = Conditions.Set(project.Status?.Conditions, project.Metadata.Generation, time.GetUtcNow(),
                (Conditions.Ready, available && rolledOut, rolledOut ? "Available" : "RollingOut",
                    string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{ready}/{replicas} API pods ready.")),
                (Conditions.Progressing, !rolledOut, rolledOut ? "RolloutComplete" : "RollingOut",
                    rolledOut ? "Every object is in place." : "Waiting for the API pods."),
                (Conditions.Degraded, false, "AsExpected", "Reconciled without errors."));
        });
        await WriteStatusAsync(project, status, cancellationToken).ConfigureAwait(false);

        TimeSpan? requeue = status.Conditions!.Any(c => c.Type == Conditions.Progressing && c.Status == "True") ? ProgressingRetry : null;
        if (graceEnds != default)
        {
            var untilGrace = graceEnds - time.GetUtcNow() + TimeSpan.FromSeconds(1);
            requeue = requeue is null || untilGrace < requeue ? untilGrace : requeue;
        }

        return new ReconcileResult(requeue);
    }

    /// <summary>Records a failed reconcile on the project (Degraded, an Event) before the controller retries it.</summary>
    public async Task ReportErrorAsync(string ns, string name, Exception error, CancellationToken cancellationToken)
    {
        try
        {
            if (await ReadProjectAsync(ns, name, cancellationToken).ConfigureAwait(false) is { } project)
            {
                await FailAsync(project, "ReconcileError", Describe(error), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is HttpOperationException or HttpRequestException)
        {
            LogReportFailed(logger, ns, name, ex.GetType().Name);
        }
    }

    /// <summary>An error message that names what failed and never carries a secret (no connection strings, no bodies).</summary>
    public static string Describe(Exception error) => error switch
    {
        HttpOperationException h => $"The Kubernetes API answered {(int)h.Response.StatusCode} to {h.Request?.Method} {h.Request?.RequestUri?.AbsolutePath}.",
        Npgsql.PostgresException p => $"PostgreSQL refused a provisioning step: {p.SqlState} {p.MessageText}",
        Npgsql.NpgsqlException => "PostgreSQL could not be reached for provisioning.",
        StackExchange.Redis.RedisException => "Redis refused or could not be reached for provisioning.",
        _ => error.GetType().Name + ": " + error.Message,
    };

    private async Task FinalizeAsync(DialogueProject project, ProjectNames identity, CancellationToken cancellationToken)
    {
        if (project.Metadata.Finalizers?.Contains(Finalizer) != true)
        {
            return;
        }

        if (project.Spec.DeletionPolicy == "Delete")
        {
            await infrastructure.DropAsync(identity, project.Spec.Database?.SecretRef is null, project.Spec.Redis?.SecretRef is null, cancellationToken).ConfigureAwait(false);
            _provisioned.Remove(identity.ProjectId);
            LogDropped(logger, project.Metadata.NamespaceProperty, project.Metadata.Name);
        }

        // The commit step: once the data is gone, nothing may stop the finalizer's removal.
        await SetFinalizerAsync(project, add: false, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Adds or removes the finalizer with a resourceVersion precondition (a merge patch; 409 means try again).</summary>
    private async Task<DialogueProject> SetFinalizerAsync(DialogueProject project, bool add, CancellationToken cancellationToken)
    {
        var finalizers = (project.Metadata.Finalizers ?? []).Where(f => f != Finalizer).ToList();
        if (add)
        {
            finalizers.Add(Finalizer);
        }

        var patch = new { metadata = new { resourceVersion = project.Metadata.ResourceVersion, finalizers } };
        return await client.CustomObjects.PatchNamespacedCustomObjectAsync<DialogueProject>(
            new V1Patch(patch, V1Patch.PatchType.MergePatch), DialogueProject.Group, DialogueProject.Version,
            project.Metadata.NamespaceProperty, DialogueProject.Plural, project.Metadata.Name, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    private (string Reason, string Message)? Invalid(DialogueProject project)
    {
        var name = project.Metadata.Name;
        if (name.Length > MaxProjectNameLength || !OperatorOptions.DnsLabel().IsMatch(name))
        {
            return ("InvalidName", $"A project name must be a DNS label of at most {MaxProjectNameLength} characters.");
        }

        var plan = project.Spec.Plan ?? options.DefaultPlan;
        if (!options.Plans.ContainsKey(plan))
        {
            return ("UnknownPlan", $"Plan '{plan}' is not in the operator's catalog ({string.Join(", ", options.Plans.Keys.Order(StringComparer.Ordinal))}).");
        }

        if (project.Spec.RetentionSchedule is { } schedule && !CronExpression.TryParse(schedule, CronFormat.Standard, out _))
        {
            return ("InvalidSchedule", "spec.retentionSchedule is not a five-field cron expression.");
        }

        if (project.Spec.Database?.SecretRef is null && !infrastructure.ManagesPostgres)
        {
            return ("NoDatabase", "The project names no database Secret and the operator has no shared PostgreSQL configured.");
        }

        if (project.Spec.Redis?.SecretRef is null && !infrastructure.ManagesRedis)
        {
            return ("NoRedis", "The project names no Redis Secret and the operator has no shared Redis configured.");
        }

        var duplicate = project.Spec.ApiKeys?.GroupBy(k => k.Name).FirstOrDefault(g => g.Count() > 1);
        return duplicate is null ? null : ("InvalidSpec", $"API key '{duplicate.Key}' is listed twice.");
    }

    private static EffectivePlan Effective(string name, PlanDefinition plan, DialogueProjectSpec spec)
    {
        static int? Days(int? overridden, int planDays) => (overridden ?? planDays) is var days && days == 0 ? null : days;
        return new EffectivePlan
        {
            Plan = name,
            RequestsPerSecond = spec.Limits?.RequestsPerSecond ?? plan.RequestsPerSecond,
            DialoguesPerMonth = spec.Limits?.DialoguesPerMonth ?? plan.DialoguesPerMonth,
            MessagesPerMonth = spec.Limits?.MessagesPerMonth ?? plan.MessagesPerMonth,
            MemoriesStored = spec.Limits?.MemoriesStored ?? plan.MemoriesStored,
            RequestsPerMonth = spec.Limits?.RequestsPerMonth ?? plan.RequestsPerMonth,
            DialogueRetentionDays = Days(spec.Retention?.DialogueDays, plan.DialogueRetentionDays),
            ShortTermMemoryRetentionDays = Days(spec.Retention?.ShortTermMemoryDays, plan.ShortTermMemoryRetentionDays),
            LongTermMemoryRetentionDays = Days(spec.Retention?.LongTermMemoryDays, plan.LongTermMemoryRetentionDays),
        };
    }

    /// <summary>The policy the pods enforce: the operator's numbers, complete, plus the hashes of the valid keys.</summary>
    private static ProjectDocument PolicyDocument(ProjectNames identity, EffectivePlan effective, IReadOnlyList<IssuedKey> keys, DateTimeOffset now)
    {
        var records = new List<ApiKeyRecord>();
        foreach (var key in keys)
        {
            records.Add(new ApiKeyRecord(key.KeyId, key.Name, key.Scope, key.Hash));
            if (key.PreviousKeyId is not null && key.PreviousHash is not null && key.PreviousValidUntil > now)
            {
                records.Add(new ApiKeyRecord(key.PreviousKeyId, key.Name + " (previous)", key.Scope, key.PreviousHash));
            }
        }

        return new ProjectDocument(identity.ProjectId, records)
        {
            Plan = effective.Plan!,
            Complete = true,
            Limits = new DialogueDb.Service.Policy.LimitOverrides
            {
                RequestsPerSecond = effective.RequestsPerSecond,
                DialoguesPerMonth = effective.DialoguesPerMonth,
                MessagesPerMonth = effective.MessagesPerMonth,
                MemoriesStored = effective.MemoriesStored,
                RequestsPerMonth = effective.RequestsPerMonth,
            },
            Retention = new DialogueDb.Service.Policy.RetentionOverrides
            {
                DialogueDays = effective.DialogueRetentionDays ?? 0,
                ShortTermMemoryDays = effective.ShortTermMemoryRetentionDays ?? 0,
                LongTermMemoryDays = effective.LongTermMemoryRetentionDays ?? 0,
            },
        };
    }

    /// <summary>
    /// Reads the customer's Secrets the spec refers to, once per reconcile: the first one missing (or missing a key) is
    /// reported; otherwise all of them are returned by name for the steps that use their contents.
    /// </summary>
    private async Task<(string? Missing, Dictionary<string, V1Secret> Read)> ReadReferencesAsync(DialogueProject project, CancellationToken cancellationToken)
    {
        var read = new Dictionary<string, V1Secret>(StringComparer.Ordinal);
        var references = new List<(SecretKeyReference Ref, string[] Keys, string What)>();
        if (project.Spec.Database?.SecretRef is { } database)
        {
            references.Add((database, ["api", "owner", "maintenance"], "spec.database.secretRef"));
        }

        if (project.Spec.Redis?.SecretRef is { } redis)
        {
            references.Add((redis, [redis.Key ?? "uri"], "spec.redis.secretRef"));
        }

        if (project.Spec.Encryption?.KeySecretRef is { } encryption)
        {
            references.Add((encryption, [encryption.Key ?? "keys.json"], "spec.encryption.keySecretRef"));
        }

        if (project.Spec.Tls?.SecretRef is { } tls)
        {
            references.Add((tls, ["tls.crt", "tls.key"], "spec.tls.secretRef"));
        }

        foreach (var (reference, keys, what) in references)
        {
            if (!read.TryGetValue(reference.Name!, out var secret))
            {
                secret = await ReadSecretAsync(project.Metadata.NamespaceProperty, reference.Name!, cancellationToken).ConfigureAwait(false);
                if (secret is null)
                {
                    return ($"{what}: Secret '{reference.Name}' does not exist.", read);
                }

                read[reference.Name!] = secret;
            }

            var absent = keys.FirstOrDefault(k => secret.Data?.ContainsKey(k) != true);
            if (absent is not null)
            {
                return ($"{what}: Secret '{reference.Name}' has no '{absent}' key.", read);
            }
        }

        return (null, read);
    }

    /// <summary>The credentials Secret: passwords, the API key hash secret and the project CA, generated once.</summary>
    private async Task<V1Secret> EnsureCredentialsAsync(DialogueProject project, CancellationToken cancellationToken)
    {
        var name = Credentials(project.Metadata.Name);
        var existing = await ReadSecretAsync(project.Metadata.NamespaceProperty, name, cancellationToken).ConfigureAwait(false);
        if (existing is not null)
        {
            return existing;
        }

        var (caCertificate, caKey) = TlsIssuer.NewCa(project.Metadata.Name, time.GetUtcNow());
        var secret = DesiredState.Secret(project, name, "credentials", new Dictionary<string, byte[]>
        {
            ["postgres-owner-password"] = Encoding.UTF8.GetBytes(NewPassword()),
            ["postgres-api-password"] = Encoding.UTF8.GetBytes(NewPassword()),
            ["postgres-maintenance-password"] = Encoding.UTF8.GetBytes(NewPassword()),
            ["redis-password"] = Encoding.UTF8.GetBytes(NewPassword()),
            ["api-key-hash-secret"] = Encoding.UTF8.GetBytes(Convert.ToBase64String(ApiKeyHasher.NewHashSecret())),
            ["ca.crt"] = Encoding.UTF8.GetBytes(caCertificate),
            ["ca.key"] = Encoding.UTF8.GetBytes(caKey),
        });
        return await CreateOnceAsync(secret, cancellationToken).ConfigureAwait(false);
    }

    private sealed record Connections(SecretValue Api, SecretValue Owner, SecretValue Maintenance, SecretValue Redis, string ApiRole, string MaintenanceRole, string Hash);

    /// <summary>
    /// Where the pods' connection strings come from: the customer's Secrets, or a connection Secret the operator derives
    /// from the generated passwords and provisions the database and Redis user for.
    /// </summary>
    private async Task<Connections> ConnectionsAsync(
        DialogueProject project, ProjectNames identity, ProjectPasswords passwords, V1Secret credentials,
        Dictionary<string, V1Secret> referenced, CancellationToken cancellationToken)
    {
        var ns = project.Metadata.NamespaceProperty;
        var connectionName = Connection(project.Metadata.Name);
        var data = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        SecretValue api, owner, maintenance, redis;
        string apiRole, maintenanceRole;
        var hashInput = new StringBuilder();

        if (project.Spec.Database?.SecretRef is { } byoDatabase)
        {
            var secret = referenced[byoDatabase.Name!];
            api = new SecretValue(byoDatabase.Name!, "api");
            owner = new SecretValue(byoDatabase.Name!, "owner");
            maintenance = new SecretValue(byoDatabase.Name!, "maintenance");
            apiRole = RoleOf(secret, "api", byoDatabase.Name!);
            maintenanceRole = RoleOf(secret, "maintenance", byoDatabase.Name!);
            hashInput.Append(Text(secret, "api")).Append('\n').Append(Text(secret, "owner")).Append('\n').Append(Text(secret, "maintenance")).Append('\n');
        }
        else
        {
            data["postgres-api"] = Encoding.UTF8.GetBytes(infrastructure.PostgresConnection(identity.Database, identity.ApiRole, passwords.Api));
            data["postgres-owner"] = Encoding.UTF8.GetBytes(infrastructure.PostgresConnection(identity.Database, identity.OwnerRole, passwords.Owner));
            data["postgres-maintenance"] = Encoding.UTF8.GetBytes(infrastructure.PostgresConnection(identity.Database, identity.MaintenanceRole, passwords.Maintenance));
            api = new SecretValue(connectionName, "postgres-api");
            owner = new SecretValue(connectionName, "postgres-owner");
            maintenance = new SecretValue(connectionName, "postgres-maintenance");
            apiRole = identity.ApiRole;
            maintenanceRole = identity.MaintenanceRole;
        }

        if (project.Spec.Redis?.SecretRef is { } byoRedis)
        {
            var secret = referenced[byoRedis.Name!];
            redis = new SecretValue(byoRedis.Name!, byoRedis.Key ?? "uri");
            hashInput.Append(Text(secret, redis.Key)).Append('\n');
        }
        else
        {
            data["redis"] = Encoding.UTF8.GetBytes(infrastructure.RedisConnection(identity.RedisUser, passwords.Redis));
            redis = new SecretValue(connectionName, "redis");
        }

        foreach (var (key, value) in data)
        {
            hashInput.Append(key).Append('=').Append(Encoding.UTF8.GetString(value)).Append('\n');
        }

        if (data.Count > 0)
        {
            await applier.ApplyAsync(DesiredState.Secret(project, connectionName, "credentials", new Dictionary<string, byte[]>(data)), children.Get("Secret", ns, connectionName), cancellationToken).ConfigureAwait(false);

            // Provisioning talks to the shared servers; once it worked for this version of the credentials it is repeated
            // only about once per resync period, which is still needed: Redis does not persist ACL users across a
            // restart unless it is configured to, and a dropped role must come back.
            var version = credentials.Metadata.ResourceVersion + "/" + identity.ProjectId;
            var now = time.GetUtcNow();
            lock (_provisioned)
            {
                if (_provisioned.TryGetValue(identity.ProjectId, out var done) && done.Version == version
                    && now - done.At < TimeSpan.FromSeconds(options.ResyncSeconds * 0.9))
                {
                    return new Connections(api, owner, maintenance, redis, apiRole, maintenanceRole, ObjectApplier.Hash(hashInput.ToString()));
                }
            }

            await infrastructure.EnsureAsync(
                identity, passwords, project.Spec.Database?.SecretRef is null, project.Spec.Redis?.SecretRef is null, cancellationToken).ConfigureAwait(false);
            lock (_provisioned)
            {
                _provisioned[identity.ProjectId] = (version, now);
            }
        }

        return new Connections(api, owner, maintenance, redis, apiRole, maintenanceRole, ObjectApplier.Hash(hashInput.ToString()));
    }

    /// <summary>The key ring: the customer's, or one generated once; a raised rotation counter adds a key and makes it active.</summary>
    private async Task<SecretValue> EnsureEncryptionAsync(DialogueProject project, CancellationToken cancellationToken)
    {
        if (project.Spec.Encryption?.KeySecretRef is { } byo)
        {
            return new SecretValue(byo.Name!, byo.Key ?? "keys.json");
        }

        var ns = project.Metadata.NamespaceProperty;
        var name = Encryption(project.Metadata.Name);
        var wanted = project.Spec.Encryption?.Rotation ?? 0;
        var existing = await ReadSecretAsync(ns, name, cancellationToken).ConfigureAwait(false);
        if (existing is null)
        {
            var secret = DesiredState.Secret(project, name, "encryption", new Dictionary<string, byte[]> { ["keys.json"] = Encoding.UTF8.GetBytes(EncryptionKeyRing.NewRing().ToJson()) });
            secret.Metadata.Annotations = new Dictionary<string, string> { [RotationAnnotation] = Invariant(wanted) };
            await CreateOnceAsync(secret, cancellationToken).ConfigureAwait(false);
        }
        else if (Rotation(existing) < wanted)
        {
            var ring = EncryptionKeyRing.Parse(Text(existing, "keys.json"), $"Secret {ns}/{name}").Rotate();
            existing.Data["keys.json"] = Encoding.UTF8.GetBytes(ring.ToJson());
            existing.Metadata.Annotations ??= new Dictionary<string, string>();
            existing.Metadata.Annotations[RotationAnnotation] = Invariant(wanted);
            // A replace with the read resourceVersion: a concurrent change gives 409 and a retry, never a lost key.
            await client.CoreV1.ReplaceNamespacedSecretAsync(existing, name, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
            await events.RecordAsync(project, "Normal", "EncryptionKeyRotated", $"A new data key is active (rotation {wanted}); older keys remain for decryption.", cancellationToken).ConfigureAwait(false);
        }

        return new SecretValue(name, "keys.json");
    }

    private sealed record TlsMaterial(string SecretName, string CaCertificatePem);

    private async Task<TlsMaterial> EnsureTlsAsync(
        DialogueProject project, V1Secret credentials, Dictionary<string, V1Secret> referenced, CancellationToken cancellationToken)
    {
        var ns = project.Metadata.NamespaceProperty;
        if (project.Spec.Tls?.SecretRef is { } byo)
        {
            return new TlsMaterial(byo.Name!, Text(referenced[byo.Name!], "ca.crt"));
        }

        var name = Tls(project.Metadata.Name);
        var caCertificate = Text(credentials, "ca.crt");
        var dnsNames = ServiceDnsNames(project, options.ClusterDomain);
        var existing = await ReadSecretAsync(ns, name, cancellationToken).ConfigureAwait(false);
        var current = existing?.Data?.TryGetValue("tls.crt", out var crt) == true ? Encoding.UTF8.GetString(crt) : null;
        if (existing is null || TlsIssuer.NeedsRenewal(current, dnsNames, time.GetUtcNow()))
        {
            var (certificate, key) = TlsIssuer.IssueServer(caCertificate, Text(credentials, "ca.key"), dnsNames, time.GetUtcNow());
            var secret = DesiredState.Secret(project, name, "tls", new Dictionary<string, byte[]>
            {
                ["tls.crt"] = Encoding.UTF8.GetBytes(certificate),
                ["tls.key"] = Encoding.UTF8.GetBytes(key),
                ["ca.crt"] = Encoding.UTF8.GetBytes(caCertificate),
            }, type: "kubernetes.io/tls");
            if (existing is null)
            {
                await CreateOnceAsync(secret, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                secret.Metadata.ResourceVersion = existing.Metadata.ResourceVersion;
                await client.CoreV1.ReplaceNamespacedSecretAsync(secret, name, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
        }

        return new TlsMaterial(name, caCertificate);
    }

    private sealed record IssuedKey(
        string Name, string Scope, int Rotation, string KeyId, string Hash, DateTime? IssuedAt,
        string? PreviousKeyId, string? PreviousHash, DateTimeOffset? PreviousValidUntil);

    /// <summary>
    /// One Secret per API key with the key, the endpoint and the CA certificate, for applications to mount. A key is
    /// generated once; raising its rotation counter issues a new one and keeps the previous one valid for the grace
    /// period. Secrets of keys removed from the spec are deleted, which revokes them.
    /// </summary>
    private async Task<IReadOnlyList<IssuedKey>> EnsureApiKeysAsync(
        DialogueProject project, ApiKeyHasher hasher, string endpoint, string caCertificate, CancellationToken cancellationToken)
    {
        var ns = project.Metadata.NamespaceProperty;
        var grace = TimeSpan.FromSeconds(project.Spec.ApiKeyGracePeriodSeconds ?? 86400);
        var now = time.GetUtcNow();
        var issued = new List<IssuedKey>();
        foreach (var spec in project.Spec.ApiKeys ?? [])
        {
            var keyName = spec.Name!;
            var scope = spec.Scope ?? ApiKeyRecord.ReadWrite;
            var rotation = spec.Rotation ?? 0;
            var secretName = ApiKey(project.Metadata.Name, keyName);
            var existing = await ReadSecretAsync(ns, secretName, cancellationToken).ConfigureAwait(false);
            V1Secret secret;
            if (existing is null || Rotation(existing) < rotation)
            {
                var (keyId, key) = ApiKeyHasher.NewKey();
                secret = existing ?? DesiredState.Secret(project, secretName, "api-key", []);
                secret.Metadata.Labels ??= new Dictionary<string, string>();
                secret.Metadata.Labels[KeyNameLabel] = keyName;
                secret.Metadata.Annotations ??= new Dictionary<string, string>();
                var data = new Dictionary<string, byte[]>
                {
                    ["api-key"] = Encoding.UTF8.GetBytes(key),
                    ["key-id"] = Encoding.UTF8.GetBytes(keyId),
                    ["endpoint"] = Encoding.UTF8.GetBytes(endpoint),
                    ["ca.crt"] = Encoding.UTF8.GetBytes(caCertificate),
                    ["issued-at"] = Encoding.UTF8.GetBytes(now.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture)),
                };
                if (existing is not null)
                {
                    data["previous-key-id"] = existing.Data["key-id"];
                    data["previous-key-hash"] = Encoding.UTF8.GetBytes(hasher.Hash(Text(existing, "api-key")));
                    data["previous-valid-until"] = Encoding.UTF8.GetBytes((now + grace).UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
                }

                secret.Data = data;
                secret.Metadata.Annotations[RotationAnnotation] = Invariant(rotation);
                if (existing is null)
                {
                    secret = await CreateOnceAsync(secret, cancellationToken).ConfigureAwait(false);
                    await events.RecordAsync(project, "Normal", "ApiKeyIssued", $"API key '{keyName}' was issued into Secret {secretName}.", cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    secret = await client.CoreV1.ReplaceNamespacedSecretAsync(secret, secretName, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
                    await events.RecordAsync(project, "Normal", "ApiKeyRotated", $"API key '{keyName}' was rotated; the previous key stays valid for {grace.TotalSeconds:F0} s.", cancellationToken).ConfigureAwait(false);
                }
            }
            else
            {
                secret = existing;
                if (Text(secret, "endpoint") != endpoint || Text(secret, "ca.crt") != caCertificate)
                {
                    secret.Data["endpoint"] = Encoding.UTF8.GetBytes(endpoint);
                    secret.Data["ca.crt"] = Encoding.UTF8.GetBytes(caCertificate);
                    secret = await client.CoreV1.ReplaceNamespacedSecretAsync(secret, secretName, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
                }
            }

            DateTimeOffset? previousUntil = secret.Data.TryGetValue("previous-valid-until", out var until)
                ? DateTimeOffset.Parse(Encoding.UTF8.GetString(until), System.Globalization.CultureInfo.InvariantCulture)
                : null;
            issued.Add(new IssuedKey(
                keyName, scope, rotation, Text(secret, "key-id"), hasher.Hash(Text(secret, "api-key")),
                secret.Data.TryGetValue("issued-at", out var at) ? DateTime.Parse(Encoding.UTF8.GetString(at), System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AdjustToUniversal | System.Globalization.DateTimeStyles.AssumeUniversal) : null,
                secret.Data.TryGetValue("previous-key-id", out var pid) ? Encoding.UTF8.GetString(pid) : null,
                secret.Data.TryGetValue("previous-key-hash", out var ph) ? Encoding.UTF8.GetString(ph) : null,
                previousUntil > now ? previousUntil : null));
        }

        // Keys no longer in the spec: deleting their Secret drops them from the policy, which revokes them within seconds.
        var wanted = (project.Spec.ApiKeys ?? []).Select(k => ApiKey(project.Metadata.Name, k.Name!)).ToHashSet(StringComparer.Ordinal);
        var listed = await client.CoreV1.ListNamespacedSecretAsync(ns,
            labelSelector: $"{ProjectLabel}={project.Metadata.Name},{ComponentLabel}=api-key", cancellationToken: cancellationToken).ConfigureAwait(false);
        foreach (var stale in listed.Items.Where(s => !wanted.Contains(s.Metadata.Name)))
        {
            await DeleteIgnoringMissingAsync(() => client.CoreV1.DeleteNamespacedSecretAsync(stale.Metadata.Name, ns, cancellationToken: cancellationToken)).ConfigureAwait(false);
            await events.RecordAsync(project, "Normal", "ApiKeyRevoked", $"API key Secret {stale.Metadata.Name} was deleted; its key no longer works.", cancellationToken).ConfigureAwait(false);
        }

        return issued;
    }

    private async Task FailAsync(DialogueProject project, string reason, string message, CancellationToken cancellationToken)
    {
        LogDegraded(logger, project.Metadata.NamespaceProperty, project.Metadata.Name, reason, message);
        await events.RecordAsync(project, "Warning", reason, message, cancellationToken).ConfigureAwait(false);
        await WriteStatusAsync(project, Status(project, s =>
        {
            s.Conditions = Conditions.Set(project.Status?.Conditions, project.Metadata.Generation, time.GetUtcNow(),
                (Conditions.Ready, Conditions.IsTrue(project, Conditions.Ready) && reason == "ReconcileError", reason, message),
                (Conditions.Progressing, false, reason, message),
                (Conditions.Degraded, true, reason, message));
        }), cancellationToken).ConfigureAwait(false);
    }

    private static DialogueProjectStatus Status(DialogueProject project, Action<DialogueProjectStatus> change)
    {
        var status = project.Status is null
            ? new DialogueProjectStatus()
            : JsonSerializer.Deserialize<DialogueProjectStatus>(KubernetesJson.Serialize(project.Status), StatusJson)!;
        status.ObservedGeneration = project.Metadata.Generation;
        change(status);
        return status;
    }

    private static readonly JsonSerializerOptions StatusJson = new(JsonSerializerDefaults.Web);

    /// <summary>Writes the status with server-side apply on the status subresource, and only when it changed.</summary>
    private async Task WriteStatusAsync(DialogueProject project, DialogueProjectStatus status, CancellationToken cancellationToken)
    {
        if (project.Status is not null && KubernetesJson.Serialize(project.Status) == KubernetesJson.Serialize(status))
        {
            return;
        }

        var body = new DialogueProject
        {
            Metadata = new V1ObjectMeta { Name = project.Metadata.Name, NamespaceProperty = project.Metadata.NamespaceProperty },
            Spec = null!,
            Status = status,
        };
        await client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(
            new V1Patch(body, V1Patch.PatchType.ApplyPatch), DialogueProject.Group, DialogueProject.Version,
            project.Metadata.NamespaceProperty, DialogueProject.Plural, project.Metadata.Name,
            fieldManager: FieldManager, force: true, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    private async Task<DialogueProject?> ReadProjectAsync(string ns, string name, CancellationToken cancellationToken)
    {
        try
        {
            return await client.CustomObjects.GetNamespacedCustomObjectAsync<DialogueProject>(
                DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, name, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private async Task<V1Secret?> ReadSecretAsync(string ns, string name, CancellationToken cancellationToken)
    {
        try
        {
            return await client.CoreV1.ReadNamespacedSecretAsync(name, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>Creates a generated Secret; if another writer got there first (409), theirs is kept and returned.</summary>
    private async Task<V1Secret> CreateOnceAsync(V1Secret secret, CancellationToken cancellationToken)
    {
        try
        {
            return await client.CoreV1.CreateNamespacedSecretAsync(secret, secret.Metadata.NamespaceProperty, fieldManager: FieldManager, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.Conflict)
        {
            return await client.CoreV1.ReadNamespacedSecretAsync(secret.Metadata.Name, secret.Metadata.NamespaceProperty, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task DeleteIgnoringMissingAsync(Func<Task> delete)
    {
        try
        {
            await delete().ConfigureAwait(false);
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.NotFound)
        {
        }
    }

    /// <summary>The role of a customer's connection string; a malformed one is named, never echoed (it holds a password).</summary>
    private static string RoleOf(V1Secret secret, string key, string secretName)
    {
        try
        {
            return new Npgsql.NpgsqlConnectionStringBuilder(Text(secret, key)).Username
                ?? throw new InvalidOperationException($"spec.database.secretRef: the '{key}' connection string in Secret '{secretName}' names no user.");
        }
        catch (ArgumentException)
        {
            throw new InvalidOperationException($"spec.database.secretRef: the '{key}' connection string in Secret '{secretName}' is malformed.");
        }
    }

    private static int Rotation(V1Secret secret) =>
        secret.Metadata.Annotations?.TryGetValue(RotationAnnotation, out var value) == true && int.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : 0;

    private static string Text(V1Secret secret, string key) =>
        secret.Data?.TryGetValue(key, out var value) == true ? Encoding.UTF8.GetString(value) : "";

    private static string Invariant(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>32 random bytes as URL-safe text: no quoting trouble in connection strings or SQL literals.</summary>
    private static string NewPassword() =>
        Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    [LoggerMessage(Level = LogLevel.Warning, Message = "Project {Namespace}/{Name} is degraded: {Reason}: {Detail}")]
    private static partial void LogDegraded(ILogger logger, string @namespace, string name, string reason, string detail);

    [LoggerMessage(Level = LogLevel.Information, Message = "Project {Namespace}/{Name}: database, roles, Redis user and keys dropped (deletionPolicy Delete)")]
    private static partial void LogDropped(ILogger logger, string @namespace, string name);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not record the failure of {Namespace}/{Name} on the object: {Error}")]
    private static partial void LogReportFailed(ILogger logger, string @namespace, string name, string error);
}
