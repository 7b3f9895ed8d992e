using System.Net;
using DialogueDb.Operator.Reconciliation;
using DialogueDb.Operator.Resources;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace DialogueDb.Operator.Tests.EndToEnd;

/// <summary>
/// <c>spec.search.indexer</c> and <c>spec.search.reindex</c> on the real API server with the operator binary (running
/// with the chart's RBAC): the CRD refuses a mode it does not know, external mode gets the <c>&lt;p&gt;-indexer</c>
/// Deployment and going back in-process deletes it, and a reindex value gets exactly one Job, reported in
/// <c>status.search.reindex</c>, whatever reconciles follow. The project brings its own database and Redis, so nothing
/// is provisioned; no kubelet or Job controller runs here, so the test writes the Job's outcome itself.
/// </summary>
[Collection(OperatorProcessSuite.Name)]
public sealed class SearchWorkersEndToEndTests(OperatorProcessFixture fixture)
{
    private const string Name = "indexed";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private k8s.Kubernetes Client => fixture.Client;

    [Fact]
    public async Task ExternalIndexer_ComesAndGoesWithTheMode_AndAReindexValueRunsOneJob_ReportedInTheStatus()
    {
        if (fixture.SkipReason is { } reason)
        {
            Assert.Skip(reason);
        }

        var ns = await NamespaceWithOwnConnectionsAsync();

        // The CRD's schema refuses what the operator could not act on.
        await AssertRefusedAsync(ns, "mode: sidecar", "spec.search.indexer.mode");
        await AssertRefusedAsync(ns, "replicas: 11", "spec.search.indexer.replicas");

        await Client.CustomObjects.CreateNamespacedCustomObjectAsync<DialogueProject>(Project(ns, "mode: external"),
            DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, cancellationToken: Ct);

        await UntilAsync(async () => await DeploymentOrNullAsync(ns, ProjectNaming.Indexer(Name)) is not null, "the indexer Deployment exists");
        var indexer = (await DeploymentOrNullAsync(ns, ProjectNaming.Indexer(Name)))!;
        Assert.Equal(["index"], indexer.Spec.Template.Spec.Containers.Single().Args);
        Assert.Equal(DialogueProject.KindName, indexer.Metadata.OwnerReferences.Single().Kind);
        await UntilAsync(async () => ApiIndexerSetting(await DeploymentOrNullAsync(ns, ProjectNaming.Api(Name))) == "external",
            "the API only queues (DIALOGUEDB_SEARCH_INDEXER=external)");
        Assert.NotNull(await Client.NetworkingV1.ReadNamespacedNetworkPolicyAsync(ProjectNaming.SearchWorkers(Name), ns, cancellationToken: Ct));

        await PatchSearchAsync(ns, new { indexer = new { mode = "inprocess" } });

        await UntilAsync(async () => await DeploymentOrNullAsync(ns, ProjectNaming.Indexer(Name)) is null, "the indexer Deployment is deleted");
        await UntilAsync(async () => ApiIndexerSetting(await DeploymentOrNullAsync(ns, ProjectNaming.Api(Name))) is null,
            "the API indexes in-process again");

        await PatchSearchAsync(ns, new { reindex = 1 });

        await UntilAsync(async () => (await ReindexAsync(ns)) is { Request: 1, State: SearchWorkers.Running }, "status.search.reindex says Running");
        Assert.Equal(ProjectNaming.Reindex(Name, 1), (await ReindexAsync(ns))!.Job);
        var job = Assert.Single(await ReindexJobsAsync(ns));
        Assert.Equal(["reindex"], job.Spec.Template.Spec.Containers.Single().Args);

        // Reconciles that follow, forced or brought by a spec change, find the Job and create no second one.
        await Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch(new { metadata = new { annotations = new Dictionary<string, string> { [ProjectNaming.ReconcileAtAnnotation] = "now" } } },
                V1Patch.PatchType.MergePatch),
            DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, Name, cancellationToken: Ct);
        await PatchSearchAsync(ns, new { indexer = new { mode = "external" } });
        await UntilAsync(async () => await DeploymentOrNullAsync(ns, ProjectNaming.Indexer(Name)) is not null, "the indexer is back");
        Assert.Equal(job.Metadata.Uid, Assert.Single(await ReindexJobsAsync(ns)).Metadata.Uid);

        // What a Job controller would write once the rebuild is done; the Job's watch brings the project back.
        var finished = DateTime.UtcNow.AddSeconds(-1);
        var started = finished.AddSeconds(-5);
        await Client.BatchV1.PatchNamespacedJobStatusAsync(new V1Patch(new
        {
            status = new
            {
                startTime = started,
                completionTime = finished,
                succeeded = 1,
                conditions = new[]
                {
                    new { type = "SuccessCriteriaMet", status = "True", lastTransitionTime = finished, lastProbeTime = finished },
                    new { type = "Complete", status = "True", lastTransitionTime = finished, lastProbeTime = finished },
                },
            },
        }, V1Patch.PatchType.MergePatch), job.Metadata.Name, ns, cancellationToken: Ct);

        await UntilAsync(async () => (await ReindexAsync(ns))?.State == SearchWorkers.Succeeded, "status.search.reindex says Succeeded");
        Assert.NotNull((await ReindexAsync(ns))!.CompletionTime);
        Assert.Single(await ReindexJobsAsync(ns));
        fixture.AssertNeverForbidden();

        await Client.CustomObjects.DeleteNamespacedCustomObjectAsync(
            DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, Name, cancellationToken: Ct);
    }

    [Fact]
    public async Task Reindex_JobDeletedBeforeItFinished_ReportedFailed_NotRecreated_ARaisedValueRunsAgain()
    {
        if (fixture.SkipReason is { } reason)
        {
            Assert.Skip(reason);
        }

        var ns = await NamespaceWithOwnConnectionsAsync();
        await Client.CustomObjects.CreateNamespacedCustomObjectAsync<DialogueProject>(Project(ns, "mode: inprocess"),
            DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, cancellationToken: Ct);
        await PatchSearchAsync(ns, new { reindex = 1 });
        await UntilAsync(async () => (await ReindexAsync(ns)) is { Request: 1, State: SearchWorkers.Running }, "status.search.reindex says Running");

        await Client.BatchV1.DeleteNamespacedJobAsync(ProjectNaming.Reindex(Name, 1), ns, propagationPolicy: "Background", cancellationToken: Ct);

        await UntilAsync(async () => (await ReindexAsync(ns))?.State == SearchWorkers.Failed, "status.search.reindex says Failed");
        Assert.Equal((1, SearchWorkers.JobDeleted), ((await ReindexAsync(ns))!.Request, (await ReindexAsync(ns))!.Reason));
        Assert.Empty(await ReindexJobsAsync(ns));

        await PatchSearchAsync(ns, new { reindex = 2 });

        await UntilAsync(async () => (await ReindexAsync(ns)) is { Request: 2, State: SearchWorkers.Running }, "the raised value runs");
        Assert.Equal(ProjectNaming.Reindex(Name, 2), Assert.Single(await ReindexJobsAsync(ns)).Metadata.Name);
        fixture.AssertNeverForbidden();

        await Client.CustomObjects.DeleteNamespacedCustomObjectAsync(
            DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, Name, cancellationToken: Ct);
    }

    [Fact]
    public async Task ExternalIndexer_CrashLoopingPod_SearchIndexerReadyFalseWithItsReason_ThenTrueOnceAvailable()
    {
        if (fixture.SkipReason is { } reason)
        {
            Assert.Skip(reason);
        }

        var ns = await NamespaceWithOwnConnectionsAsync();
        await Client.CustomObjects.CreateNamespacedCustomObjectAsync<DialogueProject>(Project(ns, "mode: external"),
            DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, cancellationToken: Ct);
        await UntilAsync(async () => await DeploymentOrNullAsync(ns, ProjectNaming.Indexer(Name)) is not null, "the indexer Deployment exists");

        // No kubelet or controllers on envtest: the test writes what they would, a crash-looping indexer pod and a
        // Deployment with none available (whose status change brings the project back).
        var pod = await Client.CoreV1.CreateNamespacedPodAsync(new V1Pod
        {
            Metadata = new V1ObjectMeta
            {
                Name = "indexed-indexer-0",
                Labels = new Dictionary<string, string> { [ProjectNaming.ProjectLabel] = Name, [ProjectNaming.ComponentLabel] = "indexer" },
            },
            Spec = new V1PodSpec { Containers = [new V1Container { Name = "indexer", Image = "registry.example/dialoguedb:1" }] },
        }, ns, cancellationToken: Ct);
        await Client.CoreV1.PatchNamespacedPodStatusAsync(new V1Patch(new
        {
            status = new
            {
                phase = "Running",
                containerStatuses = new[]
                {
                    new
                    {
                        name = "indexer", image = "registry.example/dialoguedb:1", imageID = "", ready = false, restartCount = 3,
                        state = new { waiting = new { reason = "CrashLoopBackOff", message = "back-off 40s restarting failed container" } },
                        lastState = new { terminated = new { exitCode = 1, reason = "Error" } },
                    },
                },
            },
        }, V1Patch.PatchType.MergePatch), pod.Metadata.Name, ns, cancellationToken: Ct);
        await SetIndexerAvailableAsync(ns, 0);

        await UntilAsync(async () => await IndexerConditionAsync(ns) is { Status: "False", Reason: "CrashLoopBackOff" },
            "SearchIndexerReady=False, reason CrashLoopBackOff");
        Assert.Contains("indexed-indexer-0", (await IndexerConditionAsync(ns))!.Message, StringComparison.Ordinal);

        await Client.CoreV1.DeleteNamespacedPodAsync(pod.Metadata.Name, ns, gracePeriodSeconds: 0, cancellationToken: Ct);
        await SetIndexerAvailableAsync(ns, 1);

        await UntilAsync(async () => await IndexerConditionAsync(ns) is { Status: "True", Reason: "Available" }, "SearchIndexerReady=True");
        fixture.AssertNeverForbidden();

        await Client.CustomObjects.DeleteNamespacedCustomObjectAsync(
            DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, Name, cancellationToken: Ct);
    }

    [Fact]
    public async Task ProjectsGauge_SearchIndexerReadyFlips_CountedUnderItsStatus_NotCountedOnceInProcess()
    {
        if (fixture.SkipReason is { } reason)
        {
            Assert.Skip(reason);
        }

        var ns = await NamespaceWithOwnConnectionsAsync();
        await Client.CustomObjects.CreateNamespacedCustomObjectAsync<DialogueProject>(Project(ns, "mode: external"),
            DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, cancellationToken: Ct);
        await UntilAsync(async () => await DeploymentOrNullAsync(ns, ProjectNaming.Indexer(Name)) is not null, "the indexer Deployment exists");

        // None available: the condition is False and the operator's /metrics counts the project there.
        await SetIndexerAvailableAsync(ns, 0);
        await UntilAsync(async () => await GaugeMatchesAsync(ns, "False"), "the gauge counts the project as SearchIndexerReady=False");

        await SetIndexerAvailableAsync(ns, 1);
        await UntilAsync(async () => await GaugeMatchesAsync(ns, "True"), "the gauge counts the project as SearchIndexerReady=True");

        // In-process indexing: no condition, so the project leaves the SearchIndexerReady series (it is no Unknown indexer).
        await PatchSearchAsync(ns, new { indexer = new { mode = "inprocess" } });
        await UntilAsync(async () => await GaugeMatchesAsync(ns, null), "the gauge no longer counts the project's indexer");
        fixture.AssertNeverForbidden();

        await Client.CustomObjects.DeleteNamespacedCustomObjectAsync(
            DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, Name, cancellationToken: Ct);
    }

    /// <summary>
    /// The project's SearchIndexerReady status is <paramref name="expected"/> (null: absent) on the API server, and the
    /// operator's gauge counts, for each status, exactly the projects of the whole cluster that have it (the suite's
    /// other tests may leave projects of their own behind; their share comes from the same list).
    /// </summary>
    private async Task<bool> GaugeMatchesAsync(string ns, string? expected)
    {
        var projects = (await Client.CustomObjects.ListClusterCustomObjectAsync<DialogueProjectList>(
            DialogueProject.Group, DialogueProject.Version, DialogueProject.Plural, cancellationToken: Ct)).Items;
        var mine = projects.Single(p => p.Metadata.NamespaceProperty == ns);
        if (IndexerStatus(mine) != expected)
        {
            return false;
        }

        using var http = new HttpClient { BaseAddress = fixture.HealthEndpoint, Timeout = TimeSpan.FromSeconds(5) };
        var metrics = await http.GetStringAsync(new Uri("metrics", UriKind.Relative), Ct);
        foreach (var status in (string[])["True", "False", "Unknown"])
        {
            var onServer = projects.Count(p => IndexerStatus(p) == status);
            var counted = Metrics.OperatorMetricsEndpointTests.Sample(metrics, "dialoguedb_operator_projects",
                $"condition=\"{Conditions.SearchIndexerReady}\"", $"status=\"{status}\"");
            if (counted != onServer)
            {
                return false;
            }
        }

        return true;
    }

    private static string? IndexerStatus(DialogueProject project) =>
        project.Status?.Conditions?.SingleOrDefault(c => c.Type == Conditions.SearchIndexerReady)?.Status;

    private async Task SetIndexerAvailableAsync(string ns, int available)
    {
        var indexer = (await DeploymentOrNullAsync(ns, ProjectNaming.Indexer(Name)))!;
        await Client.AppsV1.PatchNamespacedDeploymentStatusAsync(new V1Patch(new
        {
            status = new { observedGeneration = indexer.Metadata.Generation, replicas = 1, availableReplicas = available, readyReplicas = available },
        }, V1Patch.PatchType.MergePatch), indexer.Metadata.Name, ns, cancellationToken: Ct);
    }

    private async Task<ProjectCondition?> IndexerConditionAsync(string ns) =>
        (await Client.CustomObjects.GetNamespacedCustomObjectAsync<DialogueProject>(
            DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, Name, cancellationToken: Ct))
        .Status?.Conditions?.SingleOrDefault(c => c.Type == Conditions.SearchIndexerReady);

    private static DialogueProject Project(string ns, string indexer) => KubernetesYaml.Deserialize<DialogueProject>($"""
        apiVersion: dialoguedb.io/v1alpha1
        kind: DialogueProject
        metadata:
          name: {Name}
          namespace: {ns}
        spec:
          database:
            secretRef:
              name: own-database
          redis:
            secretRef:
              name: own-redis
          search:
            indexer:
              {indexer}
        """);

    private async Task AssertRefusedAsync(string ns, string indexer, string field)
    {
        var refused = await Assert.ThrowsAsync<HttpOperationException>(() => Client.CustomObjects.CreateNamespacedCustomObjectAsync<DialogueProject>(
            Project(ns, indexer), DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, cancellationToken: Ct));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.Response.StatusCode);
        Assert.Contains(field, refused.Response.Content, StringComparison.Ordinal);
    }

    private async Task<string> NamespaceWithOwnConnectionsAsync()
    {
        var ns = "e2e-indexer-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3));
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
        return ns;
    }

    private Task<object> PatchSearchAsync(string ns, object search) => Client.CustomObjects.PatchNamespacedCustomObjectAsync(
        new V1Patch(new { spec = new { search } }, V1Patch.PatchType.MergePatch),
        DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, Name, cancellationToken: Ct);

    private async Task<ReindexStatus?> ReindexAsync(string ns) =>
        (await Client.CustomObjects.GetNamespacedCustomObjectAsync<DialogueProject>(
            DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, Name, cancellationToken: Ct)).Status?.Search?.Reindex;

    private async Task<IList<V1Job>> ReindexJobsAsync(string ns) =>
        (await Client.BatchV1.ListNamespacedJobAsync(ns, cancellationToken: Ct)).Items;

    private async Task<V1Deployment?> DeploymentOrNullAsync(string ns, string name) =>
        (await Client.AppsV1.ListNamespacedDeploymentAsync(ns, cancellationToken: Ct)).Items.SingleOrDefault(d => d.Metadata.Name == name);

    private static string? ApiIndexerSetting(V1Deployment? api) =>
        api?.Spec.Template.Spec.Containers.Single(c => c.Name == "api").Env.SingleOrDefault(e => e.Name == "DIALOGUEDB_SEARCH_INDEXER")?.Value;

    private Task UntilAsync(Func<Task<bool>> condition, string what) =>
        Eventually.UntilAsync(condition, what, TimeSpan.FromSeconds(60), () => fixture.OperatorLog, Ct);
}
