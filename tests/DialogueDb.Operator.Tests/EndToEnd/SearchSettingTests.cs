using DialogueDb.Operator.Resources;
using k8s;
using k8s.Models;

namespace DialogueDb.Operator.Tests.EndToEnd;

/// <summary>
/// <c>spec.search.enabled</c> on the real API server with the operator binary: the CRD's default (true) is filled in
/// by the API server, and the value reaches every container of the Deployment and the retention CronJob as
/// <c>DIALOGUEDB_SEARCH_ENABLED</c>. The project brings its own database and Redis, so nothing is provisioned.
/// </summary>
[Collection(OperatorProcessSuite.Name)]
public sealed class SearchSettingTests(OperatorProcessFixture fixture)
{
    private const string Variable = "DIALOGUEDB_SEARCH_ENABLED";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private k8s.Kubernetes Client => fixture.Client;

    [Fact]
    public async Task SearchEnabled_DefaultsToTrue_AndTurningItOffReachesTheDeploymentAndTheRetentionJob()
    {
        if (fixture.SkipReason is { } reason)
        {
            Assert.Skip(reason);
        }

        var ns = "e2e-search-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3));
        await Client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = ns } }, cancellationToken: Ct);
        await Client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = "own-database" },
            StringData = new Dictionary<string, string>
            {
                ["api"] = "Host=db.example;Database=d;Username=api;Password=unused",
                ["owner"] = "Host=db.example;Database=d;Username=owner;Password=unused",
                ["maintenance"] = "Host=db.example;Database=d;Username=maint;Password=unused",
            },
        }, ns, cancellationToken: Ct);
        await Client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = "own-redis" },
            StringData = new Dictionary<string, string> { ["uri"] = "redis.example:6379,user=u,password=unused" },
        }, ns, cancellationToken: Ct);
        var project = KubernetesYaml.Deserialize<DialogueProject>($"""
            apiVersion: dialoguedb.io/v1alpha1
            kind: DialogueProject
            metadata:
              name: searchable
              namespace: {ns}
            spec:
              database:
                secretRef:
                  name: own-database
              redis:
                secretRef:
                  name: own-redis
              search:
                enabled: null
            """);

        var created = await Client.CustomObjects.CreateNamespacedCustomObjectAsync<DialogueProject>(
            project, DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, cancellationToken: Ct);

        Assert.True(created.Spec.Search?.Enabled); // the CRD's default, filled in by the API server
        await UntilAsync(async () => Values(await DeploymentAsync(ns), await CronJobAsync(ns)) is ["true", "true", "true"],
            $"{Variable}=true in the api and migrate containers and the retention job");

        await Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch(new { spec = new { search = new { enabled = false } } }, V1Patch.PatchType.MergePatch),
            DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, "searchable", cancellationToken: Ct);

        await UntilAsync(async () => Values(await DeploymentAsync(ns), await CronJobAsync(ns)) is ["false", "false", "false"],
            $"{Variable}=false in the api and migrate containers and the retention job");
        await Client.CustomObjects.DeleteNamespacedCustomObjectAsync(
            DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, "searchable", cancellationToken: Ct);
    }

    /// <summary>The variable in the api container, the migrate init container and the retention job, in that order.</summary>
    private static string?[] Values(V1Deployment? deployment, V1CronJob? cronJob)
    {
        static string? Of(IEnumerable<V1Container>? containers) =>
            containers?.SingleOrDefault()?.Env?.SingleOrDefault(e => e.Name == Variable)?.Value;
        return
        [
            Of(deployment?.Spec.Template.Spec.Containers),
            Of(deployment?.Spec.Template.Spec.InitContainers),
            Of(cronJob?.Spec.JobTemplate.Spec.Template.Spec.Containers),
        ];
    }

    private async Task<V1Deployment?> DeploymentAsync(string ns) =>
        (await Client.AppsV1.ListNamespacedDeploymentAsync(ns, cancellationToken: Ct)).Items.SingleOrDefault();

    private async Task<V1CronJob?> CronJobAsync(string ns) =>
        (await Client.BatchV1.ListNamespacedCronJobAsync(ns, cancellationToken: Ct)).Items.SingleOrDefault();

    private Task UntilAsync(Func<Task<bool>> condition, string what) =>
        Eventually.UntilAsync(condition, what, TimeSpan.FromSeconds(60), () => fixture.OperatorLog, Ct);
}
