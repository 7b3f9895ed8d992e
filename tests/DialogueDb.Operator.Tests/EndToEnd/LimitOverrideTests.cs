using System.Net;
using System.Text;
using DialogueDb.Operator.Provisioning;
using DialogueDb.Operator.Resources;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace DialogueDb.Operator.Tests.EndToEnd;

/// <summary>
/// <c>spec.limits.requestsPerSecond</c> from the spec to the answer: the operator renders the policy Secret, a pod run
/// as a kubelet would (<see cref="LocalPod"/>) reads it through the Kubernetes API, and its rate limiter (on the real
/// Redis) enforces the override instead of the plan's number; a change of the override applies live.
/// </summary>
[Collection(OperatorProcessSuite.Name)]
public sealed class LimitOverrideTests(OperatorProcessFixture fixture)
{
    private const int Burst = 30;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private k8s.Kubernetes Client => fixture.Client;

    [Fact]
    public async Task RequestsPerSecondOverride_LiftsTheFreePlansRate_AndAChangeAppliesWithoutARestart()
    {
        if (fixture.SkipReason is { } reason)
        {
            Assert.Skip(reason);
        }

        var ns = "e2e-limits-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3));
        await Client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = ns } }, cancellationToken: Ct);
        var identity = ProjectIdentity.For(ns, "limited");
        await fixture.SuperuserExecuteAsync(
            $"CREATE ROLE \"{identity.MaintenanceRole}\" LOGIN BYPASSRLS",
            $"GRANT \"{identity.MaintenanceRole}\" TO \"{fixture.AdminRole}\" WITH ADMIN OPTION");
        var project = KubernetesYaml.Deserialize<DialogueProject>($"""
            apiVersion: dialoguedb.io/v1alpha1
            kind: DialogueProject
            metadata:
              name: limited
              namespace: {ns}
            spec:
              plan: free # 5 requests/s
              deletionPolicy: Delete
              limits:
                requestsPerSecond: 1000 # slices of 10 leased from Redis (LeasingRateLimiter)
              apiKeys:
                - name: default
            """);
        await Client.CustomObjects.CreateNamespacedCustomObjectAsync(
            project, DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, cancellationToken: Ct);
        await UntilAsync(
            async () => (await ProjectAsync(ns))?.Status?.Effective?.RequestsPerSecond == 1000, "the override is in the status");
        await UntilAsync(async () => (await DeploymentOrNullAsync(ns)) is not null, "the Deployment is written");
        var deployment = await Client.AppsV1.ReadNamespacedDeploymentAsync("limited-api", ns, cancellationToken: Ct);
        await using (var pod = await LocalPod.StartAsync(fixture.Plane, Client, deployment, "limited-api-a", Ct))
        {
            var key = await Client.CoreV1.ReadNamespacedSecretAsync("limited-key-default", ns, cancellationToken: Ct);
            using var http = pod.Client(new Uri(Text(key, "endpoint")), Text(key, "ca.crt"), Text(key, "api-key"));

            // More at once than the free plan's 5/s (burst 5) admits: the override's 1000 admits them all.
            var lifted = await BurstAsync(http);
            Assert.All(lifted, a => Assert.True(a.Status == 200 && a.Limit == "1000", a.ToString()));

            await Client.CustomObjects.PatchNamespacedCustomObjectAsync(
                new V1Patch(new { spec = new { limits = new { requestsPerSecond = 2 } } }, V1Patch.PatchType.MergePatch),
                DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, "limited", cancellationToken: Ct);
            await UntilAsync(async () => (await OneAsync(http)).Limit == "2", "the pod enforces the new override (policy reloaded live)");

            // Now the same burst is more than 2/s admits: refused with the override's number, never the plan's.
            var lowered = await BurstAsync(http);
            Assert.Contains(lowered, a => a.Status == 429);
            Assert.All(lowered, a => Assert.True(a.Limit == "2" && (a.Status == 200
                || (a.Status == 429 && a.Body.Contains("allows 2 requests per second", StringComparison.Ordinal))), a.ToString()));
            Assert.False(pod.HasExited, "the pod kept running: " + pod.Log);
        }

        await Client.CustomObjects.DeleteNamespacedCustomObjectAsync(
            DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, "limited", cancellationToken: Ct);
        await UntilAsync(async () => await ProjectAsync(ns) is null, "the project is deleted");
    }

    private static async Task<List<Answer>> BurstAsync(HttpClient http) =>
        [.. await Task.WhenAll(Enumerable.Range(0, Burst).Select(_ => OneAsync(http)))];

    private static async Task<Answer> OneAsync(HttpClient http)
    {
        using var response = await http.GetAsync(new Uri("/api/v1/dialogue?namespace=limits", UriKind.Relative), Ct);
        var limit = response.Headers.TryGetValues("X-RateLimit-Limit", out var values) ? values.Single() : null;
        return new Answer((int)response.StatusCode, limit, await response.Content.ReadAsStringAsync(Ct));
    }

    private static string Text(V1Secret secret, string key) => Encoding.UTF8.GetString(secret.Data[key]);

    private async Task<V1Deployment?> DeploymentOrNullAsync(string ns) =>
        (await Client.AppsV1.ListNamespacedDeploymentAsync(ns, cancellationToken: Ct)).Items.SingleOrDefault();

    private async Task<DialogueProject?> ProjectAsync(string ns)
    {
        try
        {
            return await Client.CustomObjects.GetNamespacedCustomObjectAsync<DialogueProject>(
                DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, "limited", Ct);
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private Task UntilAsync(Func<Task<bool>> condition, string what) =>
        Eventually.UntilAsync(condition, what, TimeSpan.FromSeconds(90), () => fixture.OperatorLog, Ct);

    private sealed record Answer(int Status, string? Limit, string Body);
}
