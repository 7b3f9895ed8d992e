using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using DialogueDb.Operator.Provisioning;
using DialogueDb.Operator.Resources;
using DialogueDb.Service.Security;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace DialogueDb.Operator.Tests.EndToEnd;

/// <summary>
/// Issue 19 §1 on the real API server: the guide's project with two replicas, each run as the Deployment's container
/// would be by a kubelet (<see cref="LocalPod"/>), through two data-key rotations while both take reads and writes. The
/// test plays two kubelets that refresh their pods' Secret volumes at different times. Within the activation window
/// (rotation 1) the two phases mean no request fails at all; a replica left behind past the activation (rotation 2,
/// beyond what the phases can cover) re-reads its key ring on the unknown key id and answers 503 SERVICE_UNAVAILABLE
/// naming the key in its log, never a 500, while its writes, its other reads and its background services go on.
/// </summary>
[Collection(OperatorProcessSuite.Name)]
public sealed class TwoReplicaRotationTests(OperatorProcessFixture fixture)
{
    private const string Dialogue = "rotation:e2e";
    private const string Tenant = "e2e";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private k8s.Kubernetes Client => fixture.Client;

    private readonly List<Call> _calls = [];
    private readonly List<(string Id, string Text)> _written = [];
    private readonly System.Diagnostics.Stopwatch _sinceLastRequest = System.Diagnostics.Stopwatch.StartNew();

    /// <summary>At most 10 requests a second, well within the pro plan's rate limit (20/s, burst 40) shared by both replicas.</summary>
    private async Task PaceAsync()
    {
        var wait = TimeSpan.FromMilliseconds(100) - _sinceLastRequest.Elapsed;
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, Ct);
        }

        _sinceLastRequest.Restart();
    }

    [Fact]
    public async Task TwoReplicas_DataKeyRotations_WithKubeletsRefreshingAtDifferentTimes_NeverAnswer500_AndNothingGoesDown()
    {
        if (fixture.SkipReason is { } reason)
        {
            Assert.Skip(reason);
        }

        var ns = "e2e-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4));
        await Client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = ns } }, cancellationToken: Ct);
        var identity = ProjectIdentity.For(ns, "support");
        await fixture.SuperuserExecuteAsync(
            $"CREATE ROLE \"{identity.MaintenanceRole}\" LOGIN BYPASSRLS",
            $"GRANT \"{identity.MaintenanceRole}\" TO \"{fixture.AdminRole}\" WITH ADMIN OPTION");
        var project = KubernetesYaml.Deserialize<DialogueProject>($"""
            apiVersion: dialoguedb.io/v1alpha1
            kind: DialogueProject
            metadata:
              name: support
              namespace: {ns}
            spec:
              plan: pro
              deletionPolicy: Delete
              replicas: 2
              apiKeys:
                - name: default
            """);
        await Client.CustomObjects.CreateNamespacedCustomObjectAsync(
            project, DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, cancellationToken: Ct);
        await UntilAsync(async () => Condition(await ProjectAsync(ns), "Progressing")?.Reason == "RollingOut", "the project is rolling out");
        var deployment = await DeploymentAsync(ns);
        Assert.Equal(2, deployment.Spec.Replicas);

        await using var a = await LocalPod.StartAsync(fixture.Plane, Client, deployment, "support-api-a", Ct);
        await using var b = await LocalPod.StartAsync(fixture.Plane, Client, deployment, "support-api-b", Ct);
        await RollOutAsync(ns, deployment);
        await UntilAsync(async () => Condition(await ProjectAsync(ns), "Ready")?.Status == "True", "the project is Ready with both pods");
        var key = await SecretAsync(ns, "support-key-default");
        using var clientA = a.Client(new Uri(Text(key, "endpoint")), Text(key, "ca.crt"), Text(key, "api-key"));
        using var clientB = b.Client(new Uri(Text(key, "endpoint")), Text(key, "ca.crt"), Text(key, "api-key"));
        var replicas = new[] { ("a", clientA, a), ("b", clientB, b) };
        using (var created = await clientA.PostAsJsonAsync($"/api/v1/dialogue?namespace={Tenant}", new { id = Dialogue, label = "rotation" }, Ct))
        {
            Assert.True(created.IsSuccessStatusCode, $"creating the dialogue: {(int)created.StatusCode} {await created.Content.ReadAsStringAsync(Ct)}");
        }

        await RoundAsync("before", replicas);

        // Rotation 1: kubelet A refreshes at once, kubelet B later, both within the activation window.
        var encryption = a.VolumeOf("support-encryption");
        await PatchRotationAsync(ns, 1);
        // The version of the first phase: the new key decrypt-only (rebuilt from a later version should the test see that first).
        var phase1 = WithActiveKey(await UntilSecretAsync(ns, r => r.KeyIds.Count == 2, "the new key is distributed"), 1);
        await RefreshAsync(a, encryption, phase1);
        await RoundAsync("rotation 1, A has the new key", replicas);
        await RefreshAsync(b, encryption, phase1);
        await RoundAsync("rotation 1, both have the new key", replicas);
        var phase2 = await UntilSecretAsync(ns, r => r.ActiveId == 2, "the new key is active", during: () => RoundAsync("rotation 1, waiting", replicas));
        await RefreshAsync(a, encryption, phase2);
        await RoundAsync("rotation 1, A writes with key 2, B still decrypt-only", replicas);
        await RefreshAsync(b, encryption, phase2);
        await RoundAsync("rotation 1, both write with key 2", replicas);
        Assert.All(_calls, c => Assert.True(c.Status is >= 200 and < 300, $"{c} failed within the window the phases cover"));
        Assert.Contains(_written, w => w.Text.StartsWith("rotation 1, A writes", StringComparison.Ordinal));

        // Rotation 2: kubelet B is later than the activation (beyond what the phases cover); A writes under key 3.
        await PatchRotationAsync(ns, 2);
        var rotated = await UntilSecretAsync(ns, r => r.ActiveId == 3, "the second key is active");
        await RefreshAsync(a, encryption, rotated);
        var lagging = _calls.Count;
        await RoundAsync("rotation 2, B is behind", replicas);
        await RoundAsync("rotation 2, B is behind", replicas);
        var behind = _calls.Skip(lagging).ToList();
        Assert.DoesNotContain(behind, c => c.Status >= 500 && c.Status != 503);
        // Exactly B's reads of what A wrote under key 3 are refused, with the contract's code; everything else works.
        var refused = behind.Where(c => c.Status == 503).ToList();
        Assert.NotEmpty(refused);
        Assert.All(refused, c => Assert.True(c is { Replica: "b", Code: "SERVICE_UNAVAILABLE" } && !c.Write && c.ReadsFrom != "b", c.ToString()));
        Assert.All(behind.Except(refused), c => Assert.True(c.Status is >= 200 and < 300, c.ToString()));
        Assert.Contains("Data key 3 is not in this replica's key ring, even after re-reading it", b.Log, StringComparison.Ordinal);
        Assert.False(b.HasExited, "the lagging replica is still running: " + b.Log);
        Assert.True(await b.ProbeAsync("/healthz/live", Ct), "the lagging replica is live");

        // Kubelet B catches up: the replica that refused a moment ago reads everything, with no restart.
        await RefreshAsync(b, encryption, rotated);
        var caughtUp = _calls.Count;
        await RoundAsync("rotation 2, both have key 3", replicas);
        await ReadEverythingAsync("after both rotations", replicas);
        Assert.All(_calls.Skip(caughtUp), c => Assert.True(c.Status is >= 200 and < 300, c.ToString()));

        Assert.DoesNotContain(_calls, c => c.Status == 500);
        Assert.False(a.HasExited || b.HasExited, "a replica exited");
        Assert.True(await a.ProbeAsync("/healthz/ready", Ct) && await b.ProbeAsync("/healthz/ready", Ct), "both replicas are ready");
        // Key rings are reloaded live: the pod template (and so the pods) never changed.
        Assert.Equal(deployment.Metadata.Generation, (await DeploymentAsync(ns)).Metadata.Generation);
        Assert.DoesNotContain("Unhandled exception", a.Log + b.Log, StringComparison.Ordinal);

        await a.DisposeAsync();
        await b.DisposeAsync();
        await Client.CustomObjects.DeleteNamespacedCustomObjectAsync(
            DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, "support", cancellationToken: Ct);
        await UntilAsync(async () => await ProjectAsync(ns) is null, "the project is deleted");
        fixture.AssertNeverForbidden();
    }

    /// <summary>
    /// One round of traffic: each replica appends a message, then each reads back the other's message and the
    /// dialogue's messages. Every answer is recorded.
    /// </summary>
    private async Task RoundAsync(string phase, (string Name, HttpClient Http, LocalPod Pod)[] replicas)
    {
        var fresh = new Dictionary<string, string>();
        foreach (var (name, http, _) in replicas)
        {
            var text = $"{phase} #{_written.Count} from {name}";
            await PaceAsync();
            using var response = await http.PostAsJsonAsync($"/api/v1/message?dialogueId={Dialogue}&namespace={Tenant}",
                new { role = "user", content = text }, Ct);
            var call = await RecordAsync(name, "POST message", write: true, readsFrom: null, response);
            if (call.Status is >= 200 and < 300)
            {
                var id = JsonDocument.Parse(call.Body).RootElement.GetProperty("id").GetString()!;
                fresh[name] = id;
                _written.Add((id, text));
            }
        }

        foreach (var (name, http, _) in replicas)
        {
            foreach (var (writer, id) in fresh.Where(f => f.Key != name))
            {
                await PaceAsync();
                using var one = await http.GetAsync($"/api/v1/message/{id}?dialogueId={Dialogue}&namespace={Tenant}", Ct);
                var call = await RecordAsync(name, "GET message", write: false, readsFrom: writer, one);
                if (call.Status == 200)
                {
                    Assert.Contains(_written.Single(w => w.Id == id).Text, call.Body, StringComparison.Ordinal);
                }
            }

            await PaceAsync();
            using var list = await http.GetAsync($"/api/v1/messages?dialogueId={Dialogue}&namespace={Tenant}&limit=100", Ct);
            // The list holds the other replica's messages too (its newest under the other key ring).
            await RecordAsync(name, "GET messages", write: false, readsFrom: "both", list);
        }
    }

    /// <summary>Every message written during the test, read on every replica with its text.</summary>
    private async Task ReadEverythingAsync(string phase, (string Name, HttpClient Http, LocalPod Pod)[] replicas)
    {
        foreach (var (name, http, _) in replicas)
        {
            foreach (var (id, text) in _written)
            {
                await PaceAsync();
                using var one = await http.GetAsync($"/api/v1/message/{id}?dialogueId={Dialogue}&namespace={Tenant}", Ct);
                var call = await RecordAsync(name, $"GET message ({phase})", write: false, readsFrom: "any", one);
                Assert.Equal(200, call.Status);
                Assert.Contains(text, call.Body, StringComparison.Ordinal);
            }
        }
    }

    private async Task<Call> RecordAsync(string replica, string what, bool write, string? readsFrom, HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync(Ct);
        string? code = null;
        if (!response.IsSuccessStatusCode && body.StartsWith('{'))
        {
            code = JsonDocument.Parse(body).RootElement.TryGetProperty("error", out var error) ? error.GetProperty("code").GetString() : null;
        }

        var call = new Call(replica, what, write, readsFrom, (int)response.StatusCode, code, body);
        _calls.Add(call);
        return call;
    }

    /// <summary>Plays one pod's kubelet: the pod's Secret volume gets this version of the Secret, and the test waits until the service reloaded it.</summary>
    private static async Task RefreshAsync(LocalPod pod, string volume, V1Secret version)
    {
        const string Reloaded = "Reloaded the encryption key ring";
        var before = Count(pod.Log, Reloaded);
        await pod.SyncSecretVolumeAsync(volume, version);
        await Eventually.UntilAsync(() => Task.FromResult(Count(pod.Log, Reloaded) > before), $"{pod.Name} reloaded its key ring",
            TimeSpan.FromSeconds(30), () => pod.Log, Ct);
    }

    private static int Count(string text, string what) => (text.Length - text.Replace(what, "", StringComparison.Ordinal).Length) / what.Length;

    private async Task<V1Secret> UntilSecretAsync(string ns, Func<EncryptionKeyRing, bool> wanted, string what, Func<Task>? during = null)
    {
        V1Secret? found = null;
        await UntilAsync(async () =>
        {
            var secret = await SecretAsync(ns, "support-encryption");
            if (wanted(EncryptionKeyRing.Parse(Text(secret, "keys.json"), "e2e")))
            {
                found = secret;
                return true;
            }

            if (during is not null)
            {
                await during();
            }

            return false;
        }, what);
        return found!;
    }

    private static V1Secret WithActiveKey(V1Secret secret, uint active) => new()
    {
        Metadata = secret.Metadata,
        Data = new Dictionary<string, byte[]>(secret.Data)
        {
            ["keys.json"] = Encoding.UTF8.GetBytes(EncryptionKeyRing.Parse(Text(secret, "keys.json"), "e2e").Activate(active).ToJson()),
        },
    };

    private Task<object> PatchRotationAsync(string ns, int rotation) => Client.CustomObjects.PatchNamespacedCustomObjectAsync(
        new V1Patch(new { spec = new { encryption = new { rotation } } }, V1Patch.PatchType.MergePatch),
        DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, "support", cancellationToken: Ct);

    /// <summary>Plays the Deployment controller once both pods passed their readiness probes.</summary>
    private async Task RollOutAsync(string ns, V1Deployment deployment)
    {
        var replicas = deployment.Spec.Replicas ?? 1;
        var status = new
        {
            status = new
            {
                observedGeneration = deployment.Metadata.Generation,
                replicas, updatedReplicas = replicas, readyReplicas = replicas, availableReplicas = replicas,
            },
        };
        await Client.AppsV1.PatchNamespacedDeploymentStatusAsync(
            new V1Patch(status, V1Patch.PatchType.MergePatch), deployment.Metadata.Name, ns, cancellationToken: Ct);
    }

    private static string Text(V1Secret secret, string key) => Encoding.UTF8.GetString(secret.Data[key]);

    private Task<V1Secret> SecretAsync(string ns, string name) => Client.CoreV1.ReadNamespacedSecretAsync(name, ns, cancellationToken: Ct);

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
        Eventually.UntilAsync(condition, what, TimeSpan.FromSeconds(90), () => fixture.OperatorLog, Ct);

    /// <summary>One answer of one replica; <see cref="ReadsFrom"/> is whose message a read asked for.</summary>
    private sealed record Call(string Replica, string What, bool Write, string? ReadsFrom, int Status, string? Code, string Body)
    {
        public override string ToString() =>
            $"{What} on {Replica}{(ReadsFrom is null ? "" : " of " + ReadsFrom + "'s")}: {Status} {Code} {Body[..Math.Min(Body.Length, 300)]}";
    }
}
