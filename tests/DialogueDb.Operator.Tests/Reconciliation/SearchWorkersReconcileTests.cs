using System.Text.Json.Nodes;
using DialogueDb.Operator.Kubernetes;
using DialogueDb.Operator.Reconciliation;
using DialogueDb.Operator.Resources;
using DialogueDb.Operator.Tests.Fakes;
using k8s;
using k8s.Models;
using static DialogueDb.Operator.Tests.Reconciliation.OperatorHarness;

namespace DialogueDb.Operator.Tests.Reconciliation;

/// <summary>
/// The search step of the real controller against the in-process fake API server: the indexer Deployment follows
/// <c>spec.search.indexer.mode</c>, and each new <c>spec.search.reindex</c> value gets one Job whose outcome the status
/// reports, also after Kubernetes deleted the finished Job.
/// </summary>
public sealed class SearchWorkersReconcileTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<object> PatchSpecAsync(OperatorHarness harness, string name, object search) =>
        harness.Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch(new { spec = new { search } }, V1Patch.PatchType.MergePatch),
            DialogueProject.Group, DialogueProject.Version, Namespace, DialogueProject.Plural, name, cancellationToken: Ct);

    private static ReindexStatus? Reindex(OperatorHarness harness, string name) => harness.Project(name)?.Status?.Search?.Reindex;

    private static IReadOnlyList<JsonObject> Jobs(OperatorHarness harness) => harness.Api.List("batch/v1", "Job", Namespace);

    /// <summary>Plays the Job controller: the Job ends with <paramref name="condition"/> (Complete or Failed).</summary>
    private static void Finish(OperatorHarness harness, string job, string condition, DateTime at) =>
        harness.Api.Edit("batch/v1", "Job", Namespace, job, "kube-controller-manager", j => j["status"] = new JsonObject
        {
            ["conditions"] = new JsonArray(new JsonObject
            {
                ["type"] = condition, ["status"] = "True", ["reason"] = condition == "Failed" ? "BackoffLimitExceeded" : null,
                ["message"] = condition == "Failed" ? "Job has reached the specified backoff limit" : null,
                ["lastTransitionTime"] = at.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture),
            }),
            ["completionTime"] = condition == "Complete" ? at.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture) : null,
        });

    [Fact]
    public async Task ExternalIndexer_GetsItsDeployment_AndLosesItBackInProcess()
    {
        await using var harness = new OperatorHarness();
        await harness.CreateAsync("idx", s => s.Search = new SearchSpec { Indexer = new SearchIndexerSpec { Mode = "external" } });

        await EventuallyAsync(() => harness.Object("apps/v1", "Deployment", "idx-indexer") is not null, "the indexer Deployment exists");
        Assert.NotNull(harness.Object("networking.k8s.io/v1", "NetworkPolicy", "idx-search-workers"));
        var api = harness.Object("apps/v1", "Deployment", "idx-api")!["spec"]!["template"]!["spec"]!["containers"]![0]!["env"]!.AsArray();
        Assert.Contains(api, e => e!["name"]!.GetValue<string>() == "DIALOGUEDB_SEARCH_INDEXER" && e["value"]!.GetValue<string>() == "external");

        await PatchSpecAsync(harness, "idx", new { indexer = new { mode = "inprocess" } });

        await EventuallyAsync(() => harness.Object("apps/v1", "Deployment", "idx-indexer") is null, "the indexer Deployment is deleted");
        await EventuallyAsync(() => harness.Object("apps/v1", "Deployment", "idx-api")!["spec"]!["template"]!["spec"]!["containers"]![0]!["env"]!
            .AsArray().All(e => e!["name"]!.GetValue<string>() != "DIALOGUEDB_SEARCH_INDEXER"), "the API indexes in-process again");
        Assert.NotNull(harness.Object("apps/v1", "Deployment", "idx-api"));
    }

    private static ProjectCondition? IndexerCondition(OperatorHarness harness, string name) =>
        harness.Project(name)?.Status?.Conditions?.SingleOrDefault(c => c.Type == Conditions.SearchIndexerReady);

    /// <summary>Plays the Deployment controller for the indexer: <paramref name="available"/> of its pods are available.</summary>
    private static void IndexerAvailable(OperatorHarness harness, string name, int available) =>
        harness.Api.Edit("apps/v1", "Deployment", Namespace, ProjectNaming.Indexer(name), "kube-controller-manager", d => d["status"] = new JsonObject
        {
            ["observedGeneration"] = d["metadata"]!["generation"]!.GetValue<long>(),
            ["replicas"] = 1,
            ["availableReplicas"] = available,
            ["readyReplicas"] = available,
        });

    [Fact]
    public async Task ExternalIndexer_CrashLooping_SearchIndexerReadyFalseWithThePodsReason_ProjectStaysReady_ThenRecovers()
    {
        await using var harness = new OperatorHarness();
        await harness.CreateAsync("crash", s => s.Search = new SearchSpec { Indexer = new SearchIndexerSpec { Mode = "external" } });
        await EventuallyAsync(() => harness.Object("apps/v1", "Deployment", "crash-indexer") is not null, "the indexer Deployment exists");
        harness.RollOut("crash");
        await harness.ReconciledAsync("crash");
        Assert.Equal(("False", "Starting"), (IndexerCondition(harness, "crash")?.Status, IndexerCondition(harness, "crash")?.Reason));

        // The kubelet's view of the indexer pod (pods are not watched); the Deployment's status change brings the project back.
        harness.Api.Put(new V1Pod
        {
            ApiVersion = "v1",
            Kind = "Pod",
            Metadata = new V1ObjectMeta
            {
                Name = "crash-indexer-5f6-x1", NamespaceProperty = Namespace,
                Labels = new Dictionary<string, string> { [ProjectNaming.ProjectLabel] = "crash", [ProjectNaming.ComponentLabel] = "indexer" },
            },
            Status = new V1PodStatus
            {
                ContainerStatuses =
                [
                    new V1ContainerStatus
                    {
                        Name = "indexer", Image = "i", ImageID = "", Ready = false, RestartCount = 4,
                        State = new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = "CrashLoopBackOff", Message = "back-off 1m20s" } },
                        LastState = new V1ContainerState { Terminated = new V1ContainerStateTerminated { ExitCode = 139, Reason = "Error" } },
                    },
                ],
            },
        });
        IndexerAvailable(harness, "crash", 0);

        await EventuallyAsync(() => IndexerCondition(harness, "crash")?.Reason == "CrashLoopBackOff", "SearchIndexerReady says CrashLoopBackOff");
        var crashing = IndexerCondition(harness, "crash")!;
        Assert.Equal("False", crashing.Status);
        Assert.Contains("crash-indexer-5f6-x1", crashing.Message, StringComparison.Ordinal);
        Assert.Contains("139", crashing.Message, StringComparison.Ordinal);
        // The API serves: a failing indexer only delays search results.
        Assert.True(Conditions.IsTrue(harness.Project("crash")!, Conditions.Ready));
        Assert.False(Conditions.IsTrue(harness.Project("crash")!, Conditions.Degraded));

        harness.Api.Remove("v1", "Pod", Namespace, "crash-indexer-5f6-x1");
        IndexerAvailable(harness, "crash", 1);

        await EventuallyAsync(() => IndexerCondition(harness, "crash") is { Status: "True", Reason: "Available" }, "SearchIndexerReady is True");

        await PatchSpecAsync(harness, "crash", new { indexer = new { mode = "inprocess" } });
        await EventuallyAsync(() => IndexerCondition(harness, "crash") is null, "in-process, the project has no SearchIndexerReady");
    }

    [Fact]
    public async Task ExternalIndexer_TurningSearchOff_DeletesTheIndexer()
    {
        await using var harness = new OperatorHarness();
        await harness.CreateAsync("quiet", s => s.Search = new SearchSpec { Indexer = new SearchIndexerSpec { Mode = "external" } });
        await EventuallyAsync(() => harness.Object("apps/v1", "Deployment", "quiet-indexer") is not null, "the indexer Deployment exists");

        await PatchSpecAsync(harness, "quiet", new { enabled = false });

        await EventuallyAsync(() => harness.Object("apps/v1", "Deployment", "quiet-indexer") is null, "the indexer Deployment is deleted");
    }

    [Fact]
    public async Task Reindex_OneJobPerNewValue_StatusFollowsIt_AndSurvivesTheJobsDeletion()
    {
        await using var harness = new OperatorHarness();
        await harness.CreateAsync("rebuild");
        await harness.ReconciledAsync("rebuild", "Progressing", "True");
        Assert.Null(Reindex(harness, "rebuild"));
        Assert.Empty(Jobs(harness));

        await PatchSpecAsync(harness, "rebuild", new { reindex = 1 });

        await EventuallyAsync(() => Reindex(harness, "rebuild") is { Request: 1, State: SearchWorkers.Running }, "status.search.reindex says Running");
        Assert.Equal("rebuild-reindex-1", Reindex(harness, "rebuild")!.Job);
        Assert.Equal(["rebuild-reindex-1"], Jobs(harness).Select(j => j["metadata"]!["name"]!.GetValue<string>()));

        var finished = new DateTime(2026, 12, 4, 1, 2, 3, DateTimeKind.Utc);
        Finish(harness, "rebuild-reindex-1", "Complete", finished);
        await EventuallyAsync(() => Reindex(harness, "rebuild")?.State == SearchWorkers.Succeeded, "status.search.reindex says Succeeded");
        Assert.Equal(finished, Reindex(harness, "rebuild")!.CompletionTime?.ToUniversalTime());

        // The TTL controller deletes the finished Job: the status keeps its outcome and no Job comes back.
        harness.Api.Remove("batch/v1", "Job", Namespace, "rebuild-reindex-1");
        harness.Controller.Resync();
        await EventuallyAsync(() => harness.Controller.IsIdle && harness.Controller.QueueLength == 0, "the resync reconciled");
        await Task.Delay(200, Ct);
        Assert.Empty(Jobs(harness));
        Assert.Equal(SearchWorkers.Succeeded, Reindex(harness, "rebuild")!.State);

        // Lowering the value asks for nothing; raising it past the last one asks for one more.
        await PatchSpecAsync(harness, "rebuild", new { reindex = 0 });
        await harness.ReconciledAsync("rebuild", "Progressing", "True");
        Assert.Empty(Jobs(harness));
        await PatchSpecAsync(harness, "rebuild", new { reindex = 2 });
        await EventuallyAsync(() => Reindex(harness, "rebuild") is { Request: 2, Job: "rebuild-reindex-2", State: SearchWorkers.Running },
            "the second request runs");
        Assert.Single(Jobs(harness));
    }

    [Fact]
    public async Task Reindex_FailedJob_ReportedWithItsReason()
    {
        await using var harness = new OperatorHarness();
        await harness.CreateAsync("broken", s => s.Search = new SearchSpec { Reindex = 4 });
        await EventuallyAsync(() => Reindex(harness, "broken")?.Job == "broken-reindex-4", "the Job is reported");

        Finish(harness, "broken-reindex-4", "Failed", new DateTime(2026, 12, 4, 1, 0, 0, DateTimeKind.Utc));

        await EventuallyAsync(() => Reindex(harness, "broken")?.State == SearchWorkers.Failed, "status.search.reindex says Failed");
        Assert.Contains("BackoffLimitExceeded", Reindex(harness, "broken")!.Message, StringComparison.Ordinal);
        Assert.Single(Jobs(harness));
    }

    [Fact]
    public async Task Reindex_JobDeletedWhileRunning_Failed_NotRecreated_UntilTheValueIsRaised()
    {
        await using var harness = new OperatorHarness();
        await harness.CreateAsync("lost", s => s.Search = new SearchSpec { Reindex = 1 });
        await EventuallyAsync(() => Reindex(harness, "lost") is { Job: "lost-reindex-1", State: SearchWorkers.Running }, "the rebuild runs");

        harness.Api.Remove("batch/v1", "Job", Namespace, "lost-reindex-1");

        await EventuallyAsync(() => Reindex(harness, "lost")?.State == SearchWorkers.Failed, "status.search.reindex says Failed");
        var failed = Reindex(harness, "lost")!;
        Assert.Equal((1, "lost-reindex-1", SearchWorkers.JobDeleted), (failed.Request, failed.Job, failed.Reason));
        Assert.Contains("disappeared before", failed.Message, StringComparison.Ordinal);
        Assert.Null(failed.CompletionTime);

        // A resync neither brings the Job back nor changes the outcome.
        harness.Controller.Resync();
        await EventuallyAsync(() => harness.Controller.IsIdle && harness.Controller.QueueLength == 0, "the resync reconciled");
        await Task.Delay(200, Ct);
        Assert.Empty(Jobs(harness));
        Assert.Equal(SearchWorkers.JobDeleted, Reindex(harness, "lost")!.Reason);

        await PatchSpecAsync(harness, "lost", new { reindex = 2 });

        await EventuallyAsync(() => Reindex(harness, "lost") is { Request: 2, Job: "lost-reindex-2", State: SearchWorkers.Running },
            "the raised value runs a new Job");
        Assert.Equal(["lost-reindex-2"], Jobs(harness).Select(j => j["metadata"]!["name"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Reindex_RunningJobNotYetWatched_ReadFromTheApiServer_StillRunning()
    {
        // The watch has not delivered the new Job yet (an empty cache): the reconcile must not take it for deleted.
        var api = new FakeKubeApi();
        using var client = api.CreateClient();
        var inputs = DesiredInputs.For(s => s.Search = new SearchSpec { Reindex = 1 });
        inputs.Project.Status = new DialogueProjectStatus
        {
            Search = new SearchStatus { Reindex = new ReindexStatus { Request = 1, Job = "support-reindex-1", State = SearchWorkers.Running } },
        };
        api.Put(DesiredState.ReindexJob(inputs, 1));
        var search = new SearchWorkers(client, new ChildCache());

        var running = await search.EnsureReindexAsync(inputs, Ct);
        api.Remove("batch/v1", "Job", "tenant-a", "support-reindex-1");
        var gone = await search.EnsureReindexAsync(inputs, Ct);

        Assert.Equal((SearchWorkers.Running, "JobRunning"), (running?.State, running?.Reason));
        Assert.Equal((SearchWorkers.Failed, SearchWorkers.JobDeleted), (gone?.State, gone?.Reason));
        Assert.Equal(2, api.Requests.Count(r => r.Method == "GET" && r.Path.EndsWith("/jobs/support-reindex-1", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Reindex_WhileSearchIsOff_Waits_ThenRunsOnceSearchIsOn()
    {
        await using var harness = new OperatorHarness();
        await harness.CreateAsync("later", s => s.Search = new SearchSpec { Enabled = false, Reindex = 1 });

        await EventuallyAsync(() => Reindex(harness, "later")?.State == SearchWorkers.Pending, "status.search.reindex says Pending");
        Assert.Null(Reindex(harness, "later")!.Job);
        Assert.Empty(Jobs(harness));

        await PatchSpecAsync(harness, "later", new { enabled = true });

        await EventuallyAsync(() => Reindex(harness, "later") is { Job: "later-reindex-1", State: SearchWorkers.Running }, "the rebuild runs");
        Assert.Single(Jobs(harness));
    }

    [Fact]
    public async Task Deletion_RemovesTheIndexerAndTheReindexJobs_WhileThePodsStop_BeforeTheDataGoes()
    {
        await using var harness = new OperatorHarness();
        await harness.CreateAsync("gone", s =>
        {
            s.DeletionPolicy = "Delete";
            s.Search = new SearchSpec { Indexer = new SearchIndexerSpec { Mode = "external" }, Reindex = 1 };
        });
        await EventuallyAsync(() => harness.Object("apps/v1", "Deployment", "gone-indexer") is not null && Jobs(harness).Count == 1,
            "the indexer and the reindex Job exist");
        // An indexer pod still stopping holds the deletion: what the finalizer removed shows while the project is still there.
        harness.Api.Put(new V1Pod
        {
            ApiVersion = "v1",
            Kind = "Pod",
            Metadata = new V1ObjectMeta
            {
                Name = "gone-indexer-1", NamespaceProperty = Namespace,
                Labels = new Dictionary<string, string> { [ProjectNaming.ProjectLabel] = "gone", [ProjectNaming.ComponentLabel] = "indexer" },
            },
        });

        harness.Api.Remove(DialogueProject.GroupVersion, DialogueProject.KindName, Namespace, "gone");

        await EventuallyAsync(() => harness.Object("apps/v1", "Deployment", "gone-indexer") is null, "the indexer Deployment is deleted");
        await EventuallyAsync(() => Jobs(harness).Count == 0, "the reindex Job is deleted");
        Assert.NotNull(harness.Project("gone"));
        Assert.Empty(harness.Infrastructure.Dropped);

        harness.Api.Remove("v1", "Pod", Namespace, "gone-indexer-1");

        await EventuallyAsync(() => harness.Project("gone") is null, "the project is gone once its pods are");
        Assert.Equal(["tenant-a/gone"], harness.Infrastructure.Dropped);
    }
}
