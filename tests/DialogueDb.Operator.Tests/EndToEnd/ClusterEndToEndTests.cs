using System.Net;
using DialogueDb.Operator.Hosting;
using DialogueDb.Operator.Kubernetes;
using DialogueDb.Operator.Reconciliation;
using DialogueDb.Operator.Resources;
using DialogueDb.Operator.Tests.Reconciliation;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;

namespace DialogueDb.Operator.Tests.EndToEnd;

/// <summary>
/// The operator against a real Kubernetes API server (the one KUBECONFIG names): the CRD is accepted by the server's
/// validation, a project becomes its children and a status, drift is repaired and deletion cascades. The shared
/// PostgreSQL/Redis are replaced by a recording double here (their provisioning has its own tests against real servers).
/// Skipped, with the reason, when KUBECONFIG is not set.
/// </summary>
public sealed class ClusterEndToEndTests
{
    [Fact]
    public async Task RealApiServer_ProjectBecomesChildren_DriftIsRepaired_DeletionCascades()
    {
        var kubeconfig = Environment.GetEnvironmentVariable("KUBECONFIG");
        if (string.IsNullOrEmpty(kubeconfig) || !File.Exists(kubeconfig))
        {
            Assert.Skip("KUBECONFIG does not point at a kubeconfig file: no Kubernetes API server to run the end-to-end suite against.");
        }

        var ct = TestContext.Current.CancellationToken;
        using var client = new k8s.Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig));
        var crd = KubernetesYaml.Deserialize<V1CustomResourceDefinition>(File.ReadAllText(Path.Combine(RepositoryRoot.Path, "crds", CrdGenerator.FileName)));
        await client.ApiextensionsV1.PatchCustomResourceDefinitionAsync(new V1Patch(crd, V1Patch.PatchType.ApplyPatch), crd.Metadata.Name, fieldManager: "dialoguedb-e2e", force: true, cancellationToken: ct);
        await Task.Delay(TimeSpan.FromSeconds(3), ct); // the new kind is served a moment after the CRD is established

        var ns = $"dialoguedb-e2e-{Guid.NewGuid():N}"[..30];
        await client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = ns } }, cancellationToken: ct);
        var options = new OperatorOptions { LeaderElection = { Enabled = false }, WatchNamespaces = [ns] };
        await using var services = new ServiceCollection()
            .AddLogging()
            .AddSingleton<IProjectInfrastructure>(new RecordingInfrastructure())
            .AddOperator(options, client)
            .BuildServiceProvider();
        var controller = services.GetRequiredService<ProjectController>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var running = controller.RunAsync(stop.Token);
        try
        {
            var project = new DialogueProject { Spec = new DialogueProjectSpec { Plan = "pro", ApiKeys = [new ApiKeySpec { Name = "default" }] } };
            project.Metadata.Name = "e2e";
            project.Metadata.NamespaceProperty = ns;
            await client.CustomObjects.CreateNamespacedCustomObjectAsync(project, DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, cancellationToken: ct);

            await Until(async () => (await Project(client, ns, ct))?.Status?.ObservedGeneration is not null, "the status is written", ct);
            var deployment = await client.AppsV1.ReadNamespacedDeploymentAsync("e2e-api", ns, cancellationToken: ct);
            Assert.Equal("e2e", deployment.Metadata.OwnerReferences.Single().Name);
            var key = await client.CoreV1.ReadNamespacedSecretAsync("e2e-key-default", ns, cancellationToken: ct);
            Assert.True(key.Data.ContainsKey("api-key"));

            await client.AppsV1.PatchNamespacedDeploymentAsync(new V1Patch(new { spec = new { replicas = 5 } }, V1Patch.PatchType.MergePatch), "e2e-api", ns, cancellationToken: ct);
            await Until(async () => (await client.AppsV1.ReadNamespacedDeploymentAsync("e2e-api", ns, cancellationToken: ct)).Spec.Replicas == 1, "the edit is reverted", ct);
        }
        finally
        {
            await client.CoreV1.DeleteNamespaceAsync(ns, cancellationToken: CancellationToken.None);
            await stop.CancelAsync();
            await running;
        }
    }

    private static async Task<DialogueProject?> Project(k8s.Kubernetes client, string ns, CancellationToken ct)
    {
        try
        {
            return await client.CustomObjects.GetNamespacedCustomObjectAsync<DialogueProject>(DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, "e2e", ct);
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private static async Task Until(Func<Task<bool>> condition, string what, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail("Timed out waiting until " + what);
            }

            await Task.Delay(250, ct);
        }
    }
}
