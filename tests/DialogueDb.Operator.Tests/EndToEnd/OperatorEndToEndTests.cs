using System.Net;
using System.Net.Http.Json;
using System.Text;
using DialogueDb.Operator.Provisioning;
using DialogueDb.Operator.Resources;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace DialogueDb.Operator.Tests.EndToEnd;

/// <summary>
/// The operator binary against a real kube-apiserver (envtest) and the real PostgreSQL 15 and Redis 7, provisioning
/// with the least-privilege admin: the install guide's project becomes its children, Secrets, status and Events; drift
/// is repaired; deletion stops the pods and drops everything (Delete) or keeps the data (Retain).
/// </summary>
[Collection(OperatorProcessSuite.Name)]
public sealed class OperatorEndToEndTests(OperatorProcessFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private k8s.Kubernetes Client => fixture.Client;

    /// <summary>The install guide's project (charts/dialoguedb-operator/README.md, step 2), in the test's namespace.</summary>
    private static string GuideProject(string ns, string deletionPolicy) => $"""
        apiVersion: dialoguedb.io/v1alpha1
        kind: DialogueProject
        metadata:
          name: support
          namespace: {ns}
        spec:
          plan: free
          deletionPolicy: {deletionPolicy}
          apiKeys:
            - name: default
            - name: ci
              scope: read-only
          networkPolicy:
            ingressFrom:
              - namespaceLabels:
                  kubernetes.io/metadata.name: {ns}
        """;

    [Fact]
    public async Task GuideProject_DeletePolicy_BecomesReady_DriftIsRepaired_DeletionDropsEverythingWithTheLeastPrivilegeAdmin()
    {
        var ns = await NewNamespaceAsync();
        var identity = ProjectIdentity.For(ns, "support");
        await BootstrapMaintenanceRoleAsync(identity);

        await ApplyAsync(GuideProject(ns, "Delete"));

        await UntilAsync(async () => Condition(await ProjectAsync(ns), "Progressing")?.Reason == "RollingOut", "the project is rolling out");
        foreach (var secret in new[] { "policy", "credentials", "connection", "encryption", "tls", "key-default", "key-ci" })
        {
            var stored = await Client.CoreV1.ReadNamespacedSecretAsync($"support-{secret}", ns, cancellationToken: Ct);
            Assert.Equal("support", stored.Metadata.OwnerReferences.Single().Name);
        }

        await Client.CoreV1.ReadNamespacedServiceAsync("support-api", ns, cancellationToken: Ct);
        await Client.CoreV1.ReadNamespacedServiceAccountAsync("support-api", ns, cancellationToken: Ct);
        await Client.BatchV1.ReadNamespacedCronJobAsync("support-retention", ns, cancellationToken: Ct);
        await Client.NetworkingV1.ReadNamespacedNetworkPolicyAsync("support-api", ns, cancellationToken: Ct);
        var events = await Client.CoreV1.ListNamespacedEventAsync(ns, cancellationToken: Ct);
        Assert.Contains(events.Items, e => e.Reason == "ApiKeyIssued" && e.InvolvedObject.Name == "support");
        Assert.True(await fixture.SuperuserScalarAsync<bool>($"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = '{identity.Database}')"));
        await using var redis = await ConnectionMultiplexer.ConnectAsync(fixture.RedisAdmin + ",allowAdmin=true");
        var server = redis.GetServers().Single();
        Assert.False((await server.ExecuteAsync("ACL", "GETUSER", identity.RedisUser)).IsNull);

        await RollOutAsync(ns, "support-api");
        await UntilAsync(async () => Condition(await ProjectAsync(ns), "Ready")?.Status == "True", "the project is Ready");

        await Client.AppsV1.PatchNamespacedDeploymentAsync(
            new V1Patch(new { spec = new { replicas = 5 } }, V1Patch.PatchType.MergePatch), "support-api", ns, cancellationToken: Ct);
        await UntilAsync(async () => (await DeploymentAsync(ns)).Spec.Replicas == 1, "the edit of replicas is reverted");

        // What the API pods leave in Redis: keys under the project's prefix.
        await redis.GetDatabase().StringSetAsync(identity.RedisKeyPrefix + "rate:e2e", "1");
        await Client.CustomObjects.DeleteNamespacedCustomObjectAsync(
            DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, "support", cancellationToken: Ct);

        await UntilAsync(async () => await ProjectAsync(ns) is null, "the project is deleted");
        Assert.Equal(0, (await DeploymentAsync(ns)).Spec.Replicas); // stopped before the data went (no garbage collector here)
        Assert.True((await Client.BatchV1.ReadNamespacedCronJobAsync("support-retention", ns, cancellationToken: Ct)).Spec.Suspend);
        Assert.False(await fixture.SuperuserScalarAsync<bool>($"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = '{identity.Database}')"));
        Assert.Equal(0L, await fixture.SuperuserScalarAsync<long>(
            $"SELECT count(*) FROM pg_roles WHERE rolname IN ('{identity.OwnerRole}', '{identity.ApiRole}', '{identity.MaintenanceRole}')"));
        Assert.True((await server.ExecuteAsync("ACL", "GETUSER", identity.RedisUser)).IsNull);
        Assert.False(await redis.GetDatabase().KeyExistsAsync(identity.RedisKeyPrefix + "rate:e2e"));
        fixture.AssertNeverForbidden();
    }

    [Fact]
    public async Task GuideProject_RetainPolicy_DeletionKeepsTheData()
    {
        var ns = await NewNamespaceAsync();
        var identity = ProjectIdentity.For(ns, "support");
        await BootstrapMaintenanceRoleAsync(identity);
        await ApplyAsync(GuideProject(ns, "Retain"));
        await UntilAsync(async () => (await ProjectAsync(ns))?.Status?.ObservedGeneration is not null, "the status is written");
        Assert.Null((await ProjectAsync(ns))!.Metadata.Finalizers);

        await Client.CustomObjects.DeleteNamespacedCustomObjectAsync(
            DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, "support", cancellationToken: Ct);

        await UntilAsync(async () => await ProjectAsync(ns) is null, "the project is deleted");
        try
        {
            Assert.True(await fixture.SuperuserScalarAsync<bool>($"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = '{identity.Database}')"));
        }
        finally
        {
            var superuser = new PostgresProvisioner(fixture.Superuser, Microsoft.Extensions.Logging.Abstractions.NullLogger<PostgresProvisioner>.Instance);
            await superuser.DropAsync(ProjectDatabase.For(identity, "unused", "unused", "unused"), CancellationToken.None);
            await using var redis = new RedisProvisioner(fixture.RedisAdmin, Microsoft.Extensions.Logging.Abstractions.NullLogger<RedisProvisioner>.Instance);
            await redis.DropUserAsync(identity.RedisUser, identity.RedisKeyPrefix, CancellationToken.None);
        }
    }

    [Fact]
    public async Task DeletedSecrets_AndEncryptionRotation_ProjectStaysConsistent_PodTemplateUnchanged()
    {
        var ns = await NewNamespaceAsync();
        var identity = ProjectIdentity.For(ns, "support");
        await BootstrapMaintenanceRoleAsync(identity);
        await ApplyAsync(GuideProject(ns, "Delete"));
        await UntilAsync(async () => Condition(await ProjectAsync(ns), "Progressing")?.Reason == "RollingOut", "the project is rolling out");
        await RollOutAsync(ns, "support-api");
        await UntilAsync(async () => Condition(await ProjectAsync(ns), "Ready")?.Status == "True", "the project is Ready");
        var generation = (await DeploymentAsync(ns)).Metadata.Generation;
        var ca = Text(await SecretAsync(ns, "support-credentials"), "ca.crt");
        var eventKeys = Text(await SecretAsync(ns, "support-events-key"), "events-key.json");
        // An event as the pods seal it before the deletions.
        var published = new DialogueDb.Service.Audit.EventSealer(() => DialogueDb.Service.Audit.EventKeyRing.Parse(eventKeys, "pods"))
            .Seal(Encoding.UTF8.GetBytes($$$"""{"eventId":"{{{Guid.NewGuid()}}}","type":"message.created","item":{"text":"sealed"}}"""));

        // Deleting a root Secret is refused (it stays, unchanged); derived ones come back from the same CA.
        foreach (var name in new[] { "support-credentials", "support-events-key", "support-tls", "support-key-default" })
        {
            await Client.CoreV1.DeleteNamespacedSecretAsync(name, ns, cancellationToken: Ct);
        }

        await UntilAsync(async () => await SecretOrNullAsync(ns, "support-tls") is { } tls && Text(tls, "ca.crt") == ca
            && await SecretOrNullAsync(ns, "support-key-default") is { } key && Text(key, "ca.crt") == ca, "the derived Secrets are back");
        var credentials = await SecretAsync(ns, "support-credentials");
        Assert.NotNull(credentials.Metadata.DeletionTimestamp);
        Assert.Equal(ca, Text(credentials, "ca.crt"));
        var eventsKey = await SecretAsync(ns, "support-events-key");
        Assert.NotNull(eventsKey.Metadata.DeletionTimestamp);
        Assert.Equal(eventKeys, Text(eventsKey, "events-key.json"));
        // A consumer that reads the Secret now (as `dialoguedb events tail` does) still opens what was published.
        var consumer = DialogueDb.Service.Audit.EventKeyRing.Parse(Text(eventsKey, "events-key.json"), "consumer");
        Assert.Contains("\"text\":\"sealed\"", Encoding.UTF8.GetString(DialogueDb.Service.Audit.EventSealer.Open(published, consumer)!),
            StringComparison.Ordinal);
        var events = await Client.CoreV1.ListNamespacedEventAsync(ns, cancellationToken: Ct);
        Assert.Contains(events.Items, e => e.Reason == "ProtectedSecret" && e.Message.Contains("support-credentials", StringComparison.Ordinal));
        Assert.Contains(events.Items, e => e.Reason == "ProtectedSecret" && e.Message.Contains("support-events-key", StringComparison.Ordinal));
        Assert.Equal("True", Condition(await ProjectAsync(ns), "Ready")?.Status);

        // Two-phase rotation (activation delay 3 s here): decrypt-only first, then active; the pods are not rolled.
        await Client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch(new { spec = new { encryption = new { rotation = 1 } } },
            V1Patch.PatchType.MergePatch), DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, "support", cancellationToken: Ct);
        await UntilAsync(async () => Ring(await SecretAsync(ns, "support-encryption")).KeyIds.Count == 2, "the new key is distributed");
        Assert.Equal(1u, Ring(await SecretAsync(ns, "support-encryption")).ActiveId);
        await UntilAsync(async () => Ring(await SecretAsync(ns, "support-encryption")).ActiveId == 2, "the new key is active");
        Assert.Equal(generation, (await DeploymentAsync(ns)).Metadata.Generation);

        await Client.CustomObjects.DeleteNamespacedCustomObjectAsync(
            DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, "support", cancellationToken: Ct);
        await UntilAsync(async () => await ProjectAsync(ns) is null, "the project is deleted");
        // Its deletion was asked for above, so once the operator releases the protection the Secret is gone.
        await UntilAsync(async () => await SecretOrNullAsync(ns, "support-credentials") is null
            && await SecretOrNullAsync(ns, "support-events-key") is null, "the protection is released");
        fixture.AssertNeverForbidden();
    }

    [Fact]
    public async Task Usage_KnownWritesThroughTheProjectsApi_StatusAndUsageColumnShowTheExactCounts()
    {
        var ns = await NewNamespaceAsync();
        var identity = ProjectIdentity.For(ns, "support");
        await BootstrapMaintenanceRoleAsync(identity);
        // The free plan with two overrides: a rate that 11 quick requests stay under, and 4 dialogues a month.
        await ApplyAsync(GuideProject(ns, "Delete") + "\n  limits:\n    requestsPerSecond: 1000\n    dialoguesPerMonth: 4\n");
        await UntilAsync(async () => Condition(await ProjectAsync(ns), "Progressing")?.Reason == "RollingOut", "the project is rolling out");
        await RollOutAsync(ns, "support-api");
        await UntilAsync(async () => Condition(await ProjectAsync(ns), "Ready")?.Status == "True", "the project is Ready");

        await using (var pod = await ProjectPod.StartAsync(Client, fixture.Plane, ns, "support", Ct))
        {
            using var api = ProjectPod.Client(pod.Endpoint, await SecretAsync(ns, "support-key-default"));
            // 3 dialogues, 5 messages, 2 memories and 1 read: 11 API requests.
            var dialogues = new List<string>();
            for (var i = 0; i < 3; i++)
            {
                using var created = await api.PostAsJsonAsync("api/v1/dialogue?namespace=e2e", new { }, Ct);
                Assert.Equal(HttpStatusCode.OK, created.StatusCode);
                dialogues.Add((string)System.Text.Json.Nodes.JsonNode.Parse(await created.Content.ReadAsStringAsync(Ct))!["id"]!);
            }

            for (var i = 0; i < 5; i++)
            {
                using var appended = await api.PostAsJsonAsync($"api/v1/message?dialogueId={dialogues[0]}&namespace=e2e",
                    new { role = "user", content = $"message {i}" }, Ct);
                Assert.Equal(HttpStatusCode.OK, appended.StatusCode);
            }

            foreach (var memory in new[] { "m1", "m2" })
            {
                using var stored = await api.PostAsJsonAsync("api/v1/memory?namespace=e2e", new { id = memory, value = 1 }, Ct);
                Assert.Equal(HttpStatusCode.OK, stored.StatusCode);
            }

            using (var listed = await api.GetAsync("api/v1/dialogue?namespace=e2e", Ct))
            {
                Assert.Equal(HttpStatusCode.OK, listed.StatusCode);
            }

            // The pod's next minute, without waiting for it: requests stored, then counted and published.
            await pod.Services.GetRequiredService<DialogueDb.Service.Policy.RequestUsage>().FlushAsync(Ct);
            await pod.Services.GetRequiredService<DialogueDb.Service.Policy.QuotaUsage>().RefreshAsync(Ct);
        }

        await UntilAsync(async () => (await ProjectAsync(ns))?.Status?.Usage?.Requests?.Used == 11, "status.usage has the 11 requests");
        var usage = (await ProjectAsync(ns))!.Status!.Usage!;
        Assert.Equal(DateTime.UtcNow.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture), usage.Period);
        Assert.Equal((3L, 4L), (usage.Dialogues!.Used!.Value, usage.Dialogues.Limit!.Value));
        Assert.Equal((5L, 10_000L), (usage.Messages!.Used!.Value, usage.Messages.Limit!.Value));
        Assert.Equal((2L, 1_000L), (usage.Memories!.Used!.Value, usage.Memories.Limit!.Value));
        Assert.Equal((11L, 100_000L), (usage.Requests!.Used!.Value, usage.Requests.Limit!.Value));
        Assert.Equal("75%", usage.Highest);
        // What `kubectl get dp` prints: the server's table for the CRD's printer columns.
        Assert.Equal("75%", await PrintedColumnAsync(ns, "support", "Usage"));

        await Client.CustomObjects.DeleteNamespacedCustomObjectAsync(
            DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, "support", cancellationToken: Ct);
        await UntilAsync(async () => await ProjectAsync(ns) is null, "the project is deleted");
        fixture.AssertNeverForbidden();
    }

    /// <summary>A cell of the server-side table kubectl shows (Accept: as=Table), by column name.</summary>
    private async Task<string?> PrintedColumnAsync(string ns, string name, string column)
    {
        var config = KubernetesClientConfiguration.BuildConfigFromConfigFile(fixture.Plane.KubeconfigPath);
        var ca = config.SslCaCerts.Cast<System.Security.Cryptography.X509Certificates.X509Certificate2>().Single();
        using var handler = new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, certificate, chain, _) =>
            {
                chain!.ChainPolicy.TrustMode = System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(ca);
                return chain.Build(certificate!);
            },
        };
        using var http = new HttpClient(handler);
        using var request = new HttpRequestMessage(HttpMethod.Get,
            $"{config.Host.TrimEnd('/')}/apis/{DialogueProject.Group}/{DialogueProject.Version}/namespaces/{ns}/{DialogueProject.Plural}/{name}");
        request.Headers.Authorization = new("Bearer", config.AccessToken);
        request.Headers.Accept.ParseAdd("application/json;as=Table;v=v1;g=meta.k8s.io");
        using var response = await http.SendAsync(request, Ct);
        response.EnsureSuccessStatusCode();
        var table = System.Text.Json.Nodes.JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!;
        var index = table["columnDefinitions"]!.AsArray().Select(c => (string?)c!["name"]).ToList().IndexOf(column);
        Assert.True(index >= 0, $"no column {column} in {table["columnDefinitions"]!.ToJsonString()}");
        return (string?)table["rows"]![0]!["cells"]![index];
    }

    private static string Text(V1Secret secret, string key) => Encoding.UTF8.GetString(secret.Data[key]);

    private static DialogueDb.Service.Security.EncryptionKeyRing Ring(V1Secret secret) =>
        DialogueDb.Service.Security.EncryptionKeyRing.Parse(Text(secret, "keys.json"), "e2e");

    private Task<V1Secret> SecretAsync(string ns, string name) => Client.CoreV1.ReadNamespacedSecretAsync(name, ns, cancellationToken: Ct);

    private async Task<V1Secret?> SecretOrNullAsync(string ns, string name)
    {
        try
        {
            return await SecretAsync(ns, name);
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>The documented one-time step of a platform team with a least-privilege admin (operator/README.md).</summary>
    private Task BootstrapMaintenanceRoleAsync(ProjectIdentity identity) => fixture.SuperuserExecuteAsync(
        $"CREATE ROLE \"{identity.MaintenanceRole}\" LOGIN BYPASSRLS",
        $"GRANT \"{identity.MaintenanceRole}\" TO \"{fixture.AdminRole}\" WITH ADMIN OPTION");

    private async Task<string> NewNamespaceAsync()
    {
        if (fixture.SkipReason is { } reason)
        {
            Assert.Skip(reason);
        }

        var ns = "e2e-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4));
        await Client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = ns } }, cancellationToken: Ct);
        return ns;
    }

    private async Task ApplyAsync(string yaml)
    {
        var project = KubernetesYaml.Deserialize<DialogueProject>(yaml);
        await Client.CustomObjects.CreateNamespacedCustomObjectAsync(
            project, DialogueProject.Group, DialogueProject.Version, project.Metadata.NamespaceProperty, DialogueProject.Plural, cancellationToken: Ct);
    }

    /// <summary>Plays the kubelet and the Deployment controller: the pods passed their readiness probes.</summary>
    private async Task RollOutAsync(string ns, string name)
    {
        var deployment = await Client.AppsV1.ReadNamespacedDeploymentAsync(name, ns, cancellationToken: Ct);
        var replicas = deployment.Spec.Replicas ?? 1;
        var status = new
        {
            status = new
            {
                observedGeneration = deployment.Metadata.Generation,
                replicas, updatedReplicas = replicas, readyReplicas = replicas, availableReplicas = replicas,
            },
        };
        await Client.AppsV1.PatchNamespacedDeploymentStatusAsync(new V1Patch(status, V1Patch.PatchType.MergePatch), name, ns, cancellationToken: Ct);
    }

    private Task<V1Deployment> DeploymentAsync(string ns) => Client.AppsV1.ReadNamespacedDeploymentAsync("support-api", ns, cancellationToken: Ct);

    private async Task<DialogueProject?> ProjectAsync(string ns)
    {
        try
        {
            return await Client.CustomObjects.GetNamespacedCustomObjectAsync<DialogueProject>(
                DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, "support", Ct);
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private static ProjectCondition? Condition(DialogueProject? project, string type) =>
        project?.Status?.Conditions?.FirstOrDefault(c => c.Type == type);

    private Task UntilAsync(Func<Task<bool>> condition, string what) =>
        Eventually.UntilAsync(condition, what, TimeSpan.FromSeconds(60), () => fixture.OperatorLog, Ct);
}
