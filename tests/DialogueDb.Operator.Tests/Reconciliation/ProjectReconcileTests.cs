using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DialogueDb.Operator.Kubernetes;
using DialogueDb.Operator.Reconciliation;
using DialogueDb.Operator.Resources;
using k8s;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;
using static DialogueDb.Operator.Tests.Reconciliation.OperatorHarness;

namespace DialogueDb.Operator.Tests.Reconciliation;

/// <summary>The real controller against the in-process fake API server: create, roll out, drift, resync, rotate, delete.</summary>
public sealed class ProjectReconcileTests
{
    [Fact]
    public async Task NewProject_BecomesEveryChild_ThenReadyOnceRolledOut()
    {
        await using var harness = new OperatorHarness();
        await harness.CreateAsync("support", s => s.Plan = "pro");

        await harness.ReconciledAsync("support", "Progressing", "True");
        foreach (var (apiVersion, kind, name) in new[]
        {
            ("apps/v1", "Deployment", "support-api"), ("v1", "Service", "support-api"), ("v1", "ServiceAccount", "support-api"),
            ("rbac.authorization.k8s.io/v1", "Role", "support-api"), ("rbac.authorization.k8s.io/v1", "RoleBinding", "support-api"),
            ("batch/v1", "CronJob", "support-retention"), ("networking.k8s.io/v1", "NetworkPolicy", "support-api"),
            ("v1", "Secret", "support-policy"), ("v1", "Secret", "support-credentials"), ("v1", "Secret", "support-connection"),
            ("v1", "Secret", "support-encryption"), ("v1", "Secret", "support-tls"), ("v1", "Secret", "support-key-default"),
            ("v1", "Secret", "support-events-key"),
        })
        {
            var child = harness.Object(apiVersion, kind, name);
            Assert.True(child is not null, $"{kind} {name} is missing");
            Assert.Equal("support", child!["metadata"]!["ownerReferences"]![0]!["name"]!.GetValue<string>());
        }

        // The event key opens published events: a key ring of the service's own format, separate from the data keys.
        var eventsKey = Encoding.UTF8.GetString(harness.Secret("support-events-key")!.Data["events-key.json"]);
        Assert.NotNull(DialogueDb.Service.Audit.EventKeyRing.Parse(eventsKey, "test"));
        var pod = harness.Object("apps/v1", "Deployment", "support-api")!["spec"]!["template"]!["spec"]!;
        Assert.Contains(pod["volumes"]!.AsArray(), v => v!["secret"]?["secretName"]?.GetValue<string>() == "support-events-key");
        Assert.Null(harness.Object("policy/v1", "PodDisruptionBudget", "support-api"));
        Assert.Contains("tenant-a/support", harness.Infrastructure.Ensured);

        harness.RollOut("support");
        await harness.ReconciledAsync("support");
        var status = harness.Project("support")!.Status!;
        Assert.Equal("https://support-api.tenant-a.svc.cluster.local", status.Endpoint);
        Assert.Equal("pro", status.Effective!.Plan);
        Assert.Equal(20, status.Effective.RequestsPerSecond);
        Assert.Null(status.Effective.LongTermMemoryRetentionDays);
        Assert.Equal(1, status.ReadyReplicas);
        var key = Assert.Single(status.ApiKeys!);
        Assert.Equal("support-key-default", key.SecretName);
        Assert.All(status.Conditions!, c => Assert.Equal(harness.Project("support")!.Metadata.Generation, c.ObservedGeneration));
    }

    [Fact]
    public async Task KeySecret_HoldsAWorkingKey_WhoseHashIsInThePolicy_AndNoSecretLeaksIntoStatus()
    {
        await using var harness = new OperatorHarness();
        await harness.CreateAsync("keys");
        await harness.ReconciledAsync("keys", "Progressing", "True");

        var keySecret = harness.Secret("keys-key-default")!;
        var key = Encoding.UTF8.GetString(keySecret.Data["api-key"]);
        var hashSecret = Convert.FromBase64String(Encoding.UTF8.GetString(harness.Secret("keys-credentials")!.Data["api-key-hash-secret"]));
        var policy = DialogueDb.Service.Policy.ProjectDocument.Parse(Encoding.UTF8.GetString(harness.Secret("keys-policy")!.Data["project.json"]), "test");

        Assert.Equal("https://keys-api.tenant-a.svc.cluster.local", Encoding.UTF8.GetString(keySecret.Data["endpoint"]));
        Assert.Contains("BEGIN CERTIFICATE", Encoding.UTF8.GetString(keySecret.Data["ca.crt"]), StringComparison.Ordinal);
        var record = Assert.Single(policy.ApiKeys);
        Assert.True(new DialogueDb.Service.Security.ApiKeyHasher(hashSecret).Matches(key, record.Hash));
        Assert.Equal("tenant-a/keys", policy.ProjectId);
        Assert.True(policy.Complete);
        var crJson = harness.Object(DialogueProject.GroupVersion, DialogueProject.KindName, "keys")!.ToJsonString();
        Assert.DoesNotContain(key, crJson, StringComparison.Ordinal);
        Assert.DoesNotContain(record.Hash, crJson, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EditedOrDeletedChild_IsPutBack()
    {
        await using var harness = new OperatorHarness();
        await harness.CreateAsync("drift");
        await harness.ReconciledAsync("drift", "Progressing", "True");

        harness.Api.Edit("apps/v1", "Deployment", Namespace, "drift-api", d => d["spec"]!["replicas"] = 7);
        harness.Api.Remove("v1", "Service", Namespace, "drift-api");

        await EventuallyAsync(() => harness.Object("apps/v1", "Deployment", "drift-api")?["spec"]?["replicas"]?.GetValue<int>() == 1, "replicas are back to 1");
        await EventuallyAsync(() => harness.Object("v1", "Service", "drift-api") is not null, "the Service is back");
    }

    [Fact]
    public async Task Resync_OfAnUnchangedProject_WritesNothing()
    {
        // Fake time: no requeue timer fires, so after the last event-driven reconcile nothing else can write.
        await using var harness = new OperatorHarness(time: new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow));
        await harness.CreateAsync("steady");
        await harness.ReconciledAsync("steady", "Progressing", "True");
        harness.RollOut("steady");
        await harness.ReconciledAsync("steady");
        // Ready is written by the reconcile that saw the rolled-out Deployment; its own writes bring no other reconcile.
        await EventuallyAsync(() => harness.Controller.IsIdle, "the reconcile that wrote Ready is done");
        harness.Api.ClearRequests();
        var before = harness.Controller.Reconciles;

        harness.Controller.Resync();
        await EventuallyAsync(() => harness.Controller.Reconciles > before && harness.Controller.QueueLength == 0, "the resync reconciled");

        Assert.Equal(0, harness.Api.WriteCount);
        // The one read: the project itself. Its generated Secrets (credentials, key rings, certificate, API key) and the
        // list of its API-key Secrets come from the Secret watch; watches reopen only after minutes, never in here.
        var requests = harness.Api.Requests.Select(r => $"{r.Method} {r.Path}").ToList();
        Assert.Equal([$"GET /apis/{DialogueProject.Group}/{DialogueProject.Version}/namespaces/{Namespace}/dialogueprojects/steady"], requests);
    }

    [Fact]
    public async Task SpecChange_UpdatesPolicyAndObservedGeneration()
    {
        await using var harness = new OperatorHarness();
        var created = await harness.CreateAsync("upgrade", s => s.Plan = "free");
        await harness.ReconciledAsync("upgrade", "Progressing", "True");

        var patch = new V1Patch(new { spec = new { plan = "business", limits = new { messagesPerMonth = 5 } } }, V1Patch.PatchType.MergePatch);
        await harness.Client.CustomObjects.PatchNamespacedCustomObjectAsync(patch, DialogueProject.Group, DialogueProject.Version, Namespace, DialogueProject.Plural, "upgrade", cancellationToken: TestContext.Current.CancellationToken);

        await EventuallyAsync(() => harness.Project("upgrade")?.Status?.ObservedGeneration == created.Metadata.Generation + 1, "the new generation is observed");
        var policy = DialogueDb.Service.Policy.ProjectDocument.Parse(Encoding.UTF8.GetString(harness.Secret("upgrade-policy")!.Data["project.json"]), "test");
        Assert.Equal("business", policy.Plan);
        Assert.Equal(5, policy.Effective.MessagesPerMonth);
        Assert.Equal(100, policy.Effective.RequestsPerSecond);
        Assert.Equal(2, harness.Object("apps/v1", "Deployment", "upgrade-api")!["spec"]!["replicas"]!.GetValue<int>());
        Assert.NotNull(harness.Object("policy/v1", "PodDisruptionBudget", "upgrade-api"));
    }

    [Fact]
    public async Task UnknownPlan_IsDegraded_WithAnEvent_AndNothingCreated()
    {
        await using var harness = new OperatorHarness();
        await harness.CreateAsync("typo", s => s.Plan = "platinum");

        await harness.ReconciledAsync("typo", "Degraded", "True");

        var degraded = harness.Project("typo")!.Status!.Conditions!.Single(c => c.Type == "Degraded");
        Assert.Equal("UnknownPlan", degraded.Reason);
        Assert.Contains(harness.Api.List("v1", "Event", Namespace), e => e["reason"]?.GetValue<string>() == "UnknownPlan");
        Assert.Null(harness.Object("apps/v1", "Deployment", "typo-api"));
        Assert.Empty(harness.Infrastructure.Ensured);
    }

    [Fact]
    public async Task GeneratedSecrets_AreNeverOverwritten_ButRotationIssuesANewKeyAndKeepsThePreviousForTheGracePeriod()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var harness = new OperatorHarness(time: time);
        await harness.CreateAsync("rotate");
        await harness.ReconciledAsync("rotate", "Progressing", "True");
        var credentials = harness.Secret("rotate-credentials")!.Data.ToDictionary(kv => kv.Key, kv => Convert.ToBase64String(kv.Value));
        var firstKey = Encoding.UTF8.GetString(harness.Secret("rotate-key-default")!.Data["api-key"]);
        var ring = Encoding.UTF8.GetString(harness.Secret("rotate-encryption")!.Data["keys.json"]);

        var patch = new V1Patch(new { spec = new { apiKeys = new[] { new { name = "default", rotation = 1 } }, encryption = new { rotation = 1 } } }, V1Patch.PatchType.MergePatch);
        await harness.Client.CustomObjects.PatchNamespacedCustomObjectAsync(patch, DialogueProject.Group, DialogueProject.Version, Namespace, DialogueProject.Plural, "rotate", cancellationToken: TestContext.Current.CancellationToken);

        await EventuallyAsync(() => Encoding.UTF8.GetString(harness.Secret("rotate-key-default")!.Data["api-key"]) != firstKey, "the key is rotated");
        await EventuallyAsync(() => DialogueDb.Service.Policy.ProjectDocument.Parse(Encoding.UTF8.GetString(harness.Secret("rotate-policy")!.Data["project.json"]), "t").ApiKeys.Count == 2, "the policy has both keys");
        Assert.Equal(credentials, harness.Secret("rotate-credentials")!.Data.ToDictionary(kv => kv.Key, kv => Convert.ToBase64String(kv.Value)));
        // Two-phase: the new data key is first distributed for decryption only, and becomes active once every replica has it.
        DialogueDb.Service.Security.EncryptionKeyRing Ring() =>
            DialogueDb.Service.Security.EncryptionKeyRing.Parse(Encoding.UTF8.GetString(harness.Secret("rotate-encryption")!.Data["keys.json"]), "t");
        await EventuallyAsync(() => Ring().KeyIds.Count == 2, "the new data key is distributed");
        Assert.Equal(1u, Ring().ActiveId);

        time.Advance(TimeSpan.FromSeconds(harness.Options.EncryptionKeyActivationSeconds + 1));

        await EventuallyAsync(() => Ring().ActiveId == 2u, "the new data key becomes active after the activation delay");
        var rotatedRing = Ring();
        Assert.Equal(2, rotatedRing.KeyIds.Count);
        Assert.True(DialogueDb.Service.Security.EncryptionKeyRing.Parse(ring, "t").TryGet(1, out var oldKey) && rotatedRing.TryGet(1, out var kept) && oldKey.SequenceEqual(kept));
    }

    [Fact]
    public async Task RemovedKey_ItsSecretIsDeleted_AndItLeavesThePolicy()
    {
        await using var harness = new OperatorHarness();
        await harness.CreateAsync("revoke", s => s.ApiKeys = [new ApiKeySpec { Name = "app" }, new ApiKeySpec { Name = "ci", Scope = "read-only" }]);
        await EventuallyAsync(() => harness.Secret("revoke-key-ci") is not null && harness.Secret("revoke-key-app") is not null, "both key Secrets exist");

        var patch = new V1Patch(new { spec = new { apiKeys = new[] { new { name = "app" } } } }, V1Patch.PatchType.MergePatch);
        await harness.Client.CustomObjects.PatchNamespacedCustomObjectAsync(patch, DialogueProject.Group, DialogueProject.Version, Namespace, DialogueProject.Plural, "revoke", cancellationToken: TestContext.Current.CancellationToken);

        await EventuallyAsync(() => harness.Secret("revoke-key-ci") is null, "the ci key Secret is deleted");
        await EventuallyAsync(() => DialogueDb.Service.Policy.ProjectDocument.Parse(Encoding.UTF8.GetString(harness.Secret("revoke-policy")!.Data["project.json"]), "t").ApiKeys is [{ Name: "app" }], "only app is in the policy");
    }

    [Fact]
    public async Task DeletionPolicyDelete_FinalizerDropsTheDatabase_BeforeTheProjectGoes()
    {
        await using var harness = new OperatorHarness();
        await harness.CreateAsync("doomed", s => s.DeletionPolicy = "Delete");
        await EventuallyAsync(() => harness.Project("doomed")?.Metadata.Finalizers?.Contains(ProjectNaming.Finalizer) == true, "the finalizer is added");
        await harness.ReconciledAsync("doomed", "Progressing", "True");

        harness.Api.Remove(DialogueProject.GroupVersion, DialogueProject.KindName, Namespace, "doomed");

        await EventuallyAsync(() => harness.Project("doomed") is null, "the project is gone");
        Assert.Equal(["tenant-a/doomed"], harness.Infrastructure.Dropped);
        Assert.Null(harness.Object("apps/v1", "Deployment", "doomed-api"));
        await EventuallyAsync(() => harness.Secret("doomed-credentials") is null, "the protected Secret is released and goes too");
    }

    [Fact]
    public async Task DeletionPolicyDelete_PodsStillRunning_StopsThemFirst_DropsOnlyOnceTheyAreGone()
    {
        await using var harness = new OperatorHarness();
        await harness.CreateAsync("busy", s => s.DeletionPolicy = "Delete");
        await harness.ReconciledAsync("busy", "Progressing", "True");
        harness.RollOut("busy");
        await harness.ReconciledAsync("busy");
        harness.Api.Put(new V1Pod
        {
            ApiVersion = "v1",
            Kind = "Pod",
            Metadata = new V1ObjectMeta
            {
                Name = "busy-api-1", NamespaceProperty = Namespace, Labels = new Dictionary<string, string> { [ProjectNaming.ProjectLabel] = "busy" },
            },
        });

        harness.Api.Remove(DialogueProject.GroupVersion, DialogueProject.KindName, Namespace, "busy");

        await EventuallyAsync(() => harness.Object("apps/v1", "Deployment", "busy-api")?["spec"]?["replicas"]?.GetValue<int>() == 0,
            "the Deployment is scaled to 0");
        await EventuallyAsync(() => harness.Object("batch/v1", "CronJob", "busy-retention")?["spec"]?["suspend"]?.GetValue<bool>() == true,
            "the CronJob is suspended");
        await EventuallyAsync(() => harness.Project("busy")!.Status!.Conditions!.Any(
            c => c.Type == "Progressing" && c.Message!.StartsWith("Waiting for 1 pod(s)", StringComparison.Ordinal)), "the status says why it waits");
        Assert.Equal("False", harness.Project("busy")!.Status!.Conditions!.Single(c => c.Type == "Ready").Status);
        Assert.Empty(harness.Infrastructure.Dropped);

        harness.Api.Remove("v1", "Pod", Namespace, "busy-api-1");

        await EventuallyAsync(() => harness.Project("busy") is null, "the project is gone once its pods are");
        Assert.Equal(["tenant-a/busy"], harness.Infrastructure.Dropped);
    }

    [Fact]
    public async Task DeletionPolicyDelete_ServerRefuses_DegradedWithTheServersReply_ReconcileAtRetriesAtOnce()
    {
        // Fake time: the error backoff elapses only when the test moves the clock, so later only the annotation can bring the retry.
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var harness = new OperatorHarness(time: time);
        await harness.CreateAsync("stuck", s => s.DeletionPolicy = "Delete");
        await harness.ReconciledAsync("stuck", "Progressing", "True");
        harness.RollOut("stuck");
        await harness.ReconciledAsync("stuck");
        harness.Infrastructure.DropFailure = new Npgsql.PostgresException("permission denied to drop objects", "ERROR", "ERROR", "42501");

        harness.Api.Remove(DialogueProject.GroupVersion, DialogueProject.KindName, Namespace, "stuck");

        // Quiescent: the failure is recorded, the watch delivered the operator's own stop writes (each brings one more
        // reconcile, and those fail too) and no reconcile runs or waits. With the backoff frozen, only the annotation
        // can bring the next attempt.
        var children = harness.Services.GetRequiredService<ChildCache>();
        await EventuallyAsync(() => harness.Project("stuck")?.Status?.Conditions?.Any(c => c.Type == "Degraded" && c.Status == "True") == true
            && children.Get("Deployment", Namespace, "stuck-api") is V1Deployment { Spec.Replicas: 0 }
            && children.Get("CronJob", Namespace, "stuck-retention") is V1CronJob { Spec.Suspend: true }
            && harness.Controller.IsIdle, "the failure is in Degraded and the operator is idle");
        var attempts = harness.Infrastructure.DropAttempts;
        var conditions = harness.Project("stuck")!.Status!.Conditions!;
        var degraded = conditions.Single(c => c.Type == "Degraded");
        Assert.Equal("ProvisioningFailed", degraded.Reason);
        Assert.Contains("42501 permission denied to drop objects", degraded.Message, StringComparison.Ordinal);
        Assert.Equal(("False", "Deleting"), (conditions.Single(c => c.Type == "Ready").Status, conditions.Single(c => c.Type == "Ready").Reason));
        Assert.Contains("left: database ddb_", conditions.Single(c => c.Type == "Progressing").Message, StringComparison.Ordinal);

        Assert.True(harness.Controller.IsIdle);
        Assert.Equal(attempts, harness.Infrastructure.DropAttempts);
        harness.Infrastructure.DropFailure = null;
        harness.Api.Edit(DialogueProject.GroupVersion, DialogueProject.KindName, Namespace, "stuck",
            p => p["metadata"]!["annotations"] = new JsonObject { [ProjectNaming.ReconcileAtAnnotation] = "2026-12-03T12:00:00Z" });

        await EventuallyAsync(() => harness.Project("stuck") is null, "the retry after the annotation finished the deletion");
        Assert.Equal(["tenant-a/stuck"], harness.Infrastructure.Dropped);
        Assert.Equal(attempts + 1, harness.Infrastructure.DropAttempts);
    }

    [Fact]
    public async Task DeletedGeneratedSecrets_RootsAreKeptUntilTheProjectGoes_DerivedOnesAreRecreatedFromTheSameCa()
    {
        await using var harness = new OperatorHarness();
        await harness.CreateAsync("keep");
        await harness.ReconciledAsync("keep", "Progressing", "True");
        var ca = Encoding.UTF8.GetString(harness.Secret("keep-credentials")!.Data["ca.crt"]);
        var keyBefore = Encoding.UTF8.GetString(harness.Secret("keep-key-default")!.Data["api-key"]);
        var ringBefore = harness.Secret("keep-encryption")!.Data["keys.json"];
        var eventKeysBefore = harness.Secret("keep-events-key")!.Data["events-key.json"];

        foreach (var name in new[] { "keep-credentials", "keep-encryption", "keep-events-key", "keep-tls", "keep-key-default", "keep-connection" })
        {
            harness.Api.Remove("v1", "Secret", Namespace, name);
        }

        // The roots stay (Terminating, unchanged); everything derived comes back, consistent with the same CA.
        await EventuallyAsync(() => harness.Secret("keep-tls") is not null && harness.Secret("keep-key-default") is not null
            && harness.Secret("keep-connection") is not null, "the derived Secrets are back");
        Assert.NotNull(harness.Secret("keep-credentials")!.Metadata.DeletionTimestamp);
        Assert.Equal(ca, Encoding.UTF8.GetString(harness.Secret("keep-credentials")!.Data["ca.crt"]));
        Assert.Equal(ringBefore, harness.Secret("keep-encryption")!.Data["keys.json"]);
        Assert.NotNull(harness.Secret("keep-events-key")!.Metadata.DeletionTimestamp);
        Assert.Equal(eventKeysBefore, harness.Secret("keep-events-key")!.Data["events-key.json"]);
        Assert.Equal(ca, Encoding.UTF8.GetString(harness.Secret("keep-tls")!.Data["ca.crt"]));
        Assert.Equal(ca, Encoding.UTF8.GetString(harness.Secret("keep-key-default")!.Data["ca.crt"]));
        Assert.NotEqual(keyBefore, Encoding.UTF8.GetString(harness.Secret("keep-key-default")!.Data["api-key"]));

        harness.Api.Remove(DialogueProject.GroupVersion, DialogueProject.KindName, Namespace, "keep");

        await EventuallyAsync(() => harness.Secret("keep-credentials") is null && harness.Secret("keep-encryption") is null
            && harness.Secret("keep-events-key") is null,
            "the protection is released once the project is gone");
    }

    [Fact]
    public async Task ServingCertificateFromAnotherCa_IsReissuedFromTheProjectsCa()
    {
        await using var harness = new OperatorHarness();
        await harness.CreateAsync("certs");
        await harness.ReconciledAsync("certs", "Progressing", "True");
        var ca = Encoding.UTF8.GetString(harness.Secret("certs-credentials")!.Data["ca.crt"]);
        var (otherCa, _) = TlsIssuer.NewCa("someone-else", DateTimeOffset.UtcNow);

        harness.Api.Edit("v1", "Secret", Namespace, "certs-tls", s => s["data"]!["ca.crt"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(otherCa)));

        await EventuallyAsync(() => Encoding.UTF8.GetString(harness.Secret("certs-tls")!.Data["ca.crt"]) == ca, "the certificate is reissued");
    }

    [Fact]
    public async Task DeletionPolicyRetain_NoFinalizer_DataIsKept()
    {
        await using var harness = new OperatorHarness();
        await harness.CreateAsync("kept");
        await harness.ReconciledAsync("kept", "Progressing", "True");
        Assert.Null(harness.Project("kept")!.Metadata.Finalizers);

        harness.Api.Remove(DialogueProject.GroupVersion, DialogueProject.KindName, Namespace, "kept");

        await EventuallyAsync(() => harness.Project("kept") is null && harness.Object("apps/v1", "Deployment", "kept-api") is null, "the project and its children are gone");
        Assert.Empty(harness.Infrastructure.Dropped);
    }

    [Fact]
    public async Task ServerErrors_AreRetried_UntilTheProjectConverges()
    {
        await using var harness = new OperatorHarness();
        harness.Api.FailNext(r => r.Method == HttpMethod.Patch && r.RequestUri!.AbsolutePath.Contains("/deployments/", StringComparison.Ordinal), System.Net.HttpStatusCode.InternalServerError, times: 2);
        harness.Api.FailNext(r => r.Method == HttpMethod.Patch && r.RequestUri!.AbsolutePath.Contains("/services/", StringComparison.Ordinal), System.Net.HttpStatusCode.Conflict, times: 1);

        await harness.CreateAsync("flaky");

        await EventuallyAsync(() => harness.Object("v1", "Service", "flaky-api") is not null && harness.Object("apps/v1", "Deployment", "flaky-api") is not null, "the children exist despite the errors");
        await harness.ReconciledAsync("flaky", "Progressing", "True");
    }

    [Fact]
    public async Task ExpiredWatch_410Gone_RelistsAndStillSeesNewProjects()
    {
        await using var harness = new OperatorHarness();
        await harness.CreateAsync("first");
        await harness.ReconciledAsync("first", "Progressing", "True");

        harness.Api.Compact();
        harness.Api.BreakWatches();
        await harness.CreateAsync("second");

        await harness.ReconciledAsync("second", "Progressing", "True");
    }

    [Fact]
    public async Task Suspended_ProjectIsLeftAlone_AndSaysSo()
    {
        await using var harness = new OperatorHarness();
        await harness.CreateAsync("paused", s => s.Suspend = true);

        await harness.ReconciledAsync("paused", "Ready", "False");

        Assert.Equal("Suspended", harness.Project("paused")!.Status!.Conditions!.Single(c => c.Type == "Ready").Reason);
        Assert.Null(harness.Object("apps/v1", "Deployment", "paused-api"));
    }

    [Fact]
    public async Task HungWatch_IsAbandonedAfterItsDeadline_AndChangesStillArrive()
    {
        await using var harness = new OperatorHarness(new DialogueDb.Operator.Hosting.OperatorOptions
        {
            LeaderElection = { Enabled = false },
            ResyncSeconds = 3600,
            WatchTimeoutSeconds = 1,
        });
        await harness.CreateAsync("before");
        await harness.ReconciledAsync("before", "Progressing", "True");

        // The server stops talking without closing the connections (a dead load balancer, a partition).
        harness.Api.HangWatches = true;
        harness.Api.EndWatches();
        await EventuallyAsync(() => harness.Api.HungWatchCount(DialogueProject.KindName) > 0, "the project watch is opened again, and hangs");
        harness.Api.HangWatches = false;
        await harness.CreateAsync("after");

        await harness.ReconciledAsync("after", "Progressing", "True");
    }

    [Fact]
    public async Task MissingCustomerSecret_IsDegraded_UntilTheSecretAppears()
    {
        await using var harness = new OperatorHarness();
        await harness.CreateAsync("byok", s => s.Encryption = new EncryptionSpec { KeySecretRef = new SecretKeyReference { Name = "my-keys" } });

        await harness.ReconciledAsync("byok", "Degraded", "True");
        Assert.Equal("MissingSecret", harness.Project("byok")!.Status!.Conditions!.Single(c => c.Type == "Degraded").Reason);
        Assert.Null(harness.Object("apps/v1", "Deployment", "byok-api"));

        harness.Api.Put(new V1Secret
        {
            ApiVersion = "v1",
            Kind = "Secret",
            Metadata = new V1ObjectMeta { Name = "my-keys", NamespaceProperty = Namespace },
            Data = new Dictionary<string, byte[]> { ["keys.json"] = Encoding.UTF8.GetBytes(DialogueDb.Service.Security.EncryptionKeyRing.NewRing().ToJson()) },
        });
        harness.Controller.Enqueue(Namespace, "byok"); // the retry would come after 30 s; do not wait for it

        await harness.ReconciledAsync("byok", "Degraded", "False");
        Assert.Null(harness.Secret("byok-encryption"));
        var volume = harness.Api.Get<V1Deployment>(Namespace, "byok-api")!.Spec.Template.Spec.Volumes.Single(v => v.Name == "encryption");
        Assert.Equal("my-keys", volume.Secret.SecretName);
    }

    [Fact]
    public async Task MalformedCustomerConnectionString_IsDegraded_WithoutEchoingIt()
    {
        await using var harness = new OperatorHarness();
        const string marker = "S3cretMarker";
        harness.Api.Put(new V1Secret
        {
            ApiVersion = "v1",
            Kind = "Secret",
            Metadata = new V1ObjectMeta { Name = "own-db", NamespaceProperty = Namespace },
            Data = new Dictionary<string, byte[]>
            {
                ["api"] = Encoding.UTF8.GetBytes($"Host=db;Password={marker};Bogus Keyword=1"),
                ["owner"] = Encoding.UTF8.GetBytes("Host=db;Username=o"),
                ["maintenance"] = Encoding.UTF8.GetBytes("Host=db;Username=m"),
            },
        });

        await harness.CreateAsync("own", s => s.Database = new ConnectionSpec { SecretRef = new SecretKeyReference { Name = "own-db" } });

        await harness.ReconciledAsync("own", "Degraded", "True");
        var degraded = harness.Project("own")!.Status!.Conditions!.Single(c => c.Type == "Degraded");
        Assert.Equal("ReconcileError", degraded.Reason);
        Assert.Contains("'api' connection string in Secret 'own-db'", degraded.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(marker, harness.Object(DialogueProject.GroupVersion, DialogueProject.KindName, "own")!.ToJsonString(), StringComparison.Ordinal);
        Assert.DoesNotContain(harness.Api.List("v1", "Event", Namespace), e => e.ToJsonString().Contains(marker, StringComparison.Ordinal));
    }
}
