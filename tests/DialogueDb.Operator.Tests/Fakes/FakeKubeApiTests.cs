using System.Net;
using System.Text.Json.Nodes;
using DialogueDb.Operator.Resources;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Time.Testing;

namespace DialogueDb.Operator.Tests.Fakes;

#pragma warning disable CS0618 // WatchAsync is obsolete in KubernetesClient 21 but is the only typed watch for custom objects.

public sealed class FakeKubeApiTests : IDisposable
{
    private const string Ns = "tenant-a";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero));
    private readonly FakeKubeApi _api;
    private readonly IKubernetes _client;

    public FakeKubeApiTests()
    {
        _api = new FakeKubeApi(_time);
        _client = _api.CreateClient();
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        _client.Dispose();
        _api.Dispose();
    }

    // ------------------------------------------------------------------ CRUD

    [Fact]
    public async Task Secret_CreateThenGet_ReturnsServerFieldsWithoutGeneration()
    {
        var created = await _client.CoreV1.CreateNamespacedSecretAsync(Secret("db"), Ns, cancellationToken: Ct);
        var read = await _client.CoreV1.ReadNamespacedSecretAsync("db", Ns, cancellationToken: Ct);

        Assert.False(string.IsNullOrEmpty(created.Metadata.Uid));
        Assert.Equal(created.Metadata.ResourceVersion, read.Metadata.ResourceVersion);
        Assert.Equal(new DateTime(2025, 1, 2, 3, 4, 5, DateTimeKind.Utc), read.Metadata.CreationTimestamp);
        Assert.Null(read.Metadata.Generation);
        Assert.Equal("secret", System.Text.Encoding.UTF8.GetString(read.Data["password"]));
    }

    [Fact]
    public async Task Secret_GetMissing_Throws404WithNotFoundStatus()
    {
        var error = await Assert.ThrowsAsync<HttpOperationException>(() => _client.CoreV1.ReadNamespacedSecretAsync("nope", Ns, cancellationToken: Ct));

        Assert.Equal(HttpStatusCode.NotFound, error.Response.StatusCode);
        var status = KubernetesJson.Deserialize<V1Status>(error.Response.Content);
        Assert.Equal("NotFound", status.Reason);
        Assert.Equal(404, status.Code);
    }

    [Fact]
    public async Task Secret_CreateExisting_Throws409AlreadyExists()
    {
        await _client.CoreV1.CreateNamespacedSecretAsync(Secret("db"), Ns, cancellationToken: Ct);

        var error = await Assert.ThrowsAsync<HttpOperationException>(() => _client.CoreV1.CreateNamespacedSecretAsync(Secret("db"), Ns, cancellationToken: Ct));

        Assert.Equal(HttpStatusCode.Conflict, error.Response.StatusCode);
        Assert.Equal("AlreadyExists", KubernetesJson.Deserialize<V1Status>(error.Response.Content).Reason);
    }

    [Fact]
    public async Task Secret_CreateWithGenerateName_GetsUniqueName()
    {
        var secret = Secret("ignored");
        secret.Metadata.Name = null;
        secret.Metadata.GenerateName = "key-";

        var first = await _client.CoreV1.CreateNamespacedSecretAsync(secret, Ns, cancellationToken: Ct);
        var second = await _client.CoreV1.CreateNamespacedSecretAsync(secret, Ns, cancellationToken: Ct);

        Assert.StartsWith("key-", first.Metadata.Name, StringComparison.Ordinal);
        Assert.NotEqual(first.Metadata.Name, second.Metadata.Name);
        Assert.Equal(2, _api.List("v1", "Secret", Ns).Count);
    }

    [Fact]
    public async Task Deployment_ReplaceWithStaleResourceVersion_Throws409Conflict()
    {
        var created = await _client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("api"), Ns, cancellationToken: Ct);
        _api.Edit("apps/v1", "Deployment", Ns, "api", d => d["metadata"]!["labels"]!["edited"] = "yes");

        created.Spec.Replicas = 5;
        var error = await Assert.ThrowsAsync<HttpOperationException>(() => _client.AppsV1.ReplaceNamespacedDeploymentAsync(created, "api", Ns, cancellationToken: Ct));

        Assert.Equal(HttpStatusCode.Conflict, error.Response.StatusCode);
        Assert.Equal(1, _api.Get<V1Deployment>(Ns, "api")!.Spec.Replicas);
    }

    [Fact]
    public async Task Deployment_ReplaceMissing_Throws404()
    {
        var error = await Assert.ThrowsAsync<HttpOperationException>(() => _client.AppsV1.ReplaceNamespacedDeploymentAsync(Deployment("api"), "api", Ns, cancellationToken: Ct));

        Assert.Equal(HttpStatusCode.NotFound, error.Response.StatusCode);
    }

    [Fact]
    public async Task Deployment_MetadataOnlyChange_KeepsGenerationButSpecChangeBumpsIt()
    {
        var created = await _client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("api"), Ns, cancellationToken: Ct);

        var labelled = await _client.AppsV1.PatchNamespacedDeploymentAsync(
            new V1Patch("{\"metadata\":{\"labels\":{\"team\":\"x\"}}}", V1Patch.PatchType.MergePatch), "api", Ns, cancellationToken: Ct);
        var scaled = await _client.AppsV1.PatchNamespacedDeploymentAsync(
            new V1Patch("{\"spec\":{\"replicas\":3}}", V1Patch.PatchType.MergePatch), "api", Ns, cancellationToken: Ct);

        Assert.Equal(1, created.Metadata.Generation);
        Assert.Equal(1, labelled.Metadata.Generation);
        Assert.NotEqual(created.Metadata.ResourceVersion, labelled.Metadata.ResourceVersion);
        Assert.Equal(2, scaled.Metadata.Generation);
        Assert.Equal(3, scaled.Spec.Replicas);
    }

    [Fact]
    public async Task MergePatch_StaleResourceVersion_Throws409Conflict()
    {
        var created = await _client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("api"), Ns, cancellationToken: Ct);
        _api.Edit("apps/v1", "Deployment", Ns, "api", d => d["spec"]!["replicas"] = 2);

        var patch = $"{{\"metadata\":{{\"resourceVersion\":\"{created.Metadata.ResourceVersion}\"}},\"spec\":{{\"replicas\":3}}}}";
        var error = await Assert.ThrowsAsync<HttpOperationException>(() =>
            _client.AppsV1.PatchNamespacedDeploymentAsync(new V1Patch(patch, V1Patch.PatchType.MergePatch), "api", Ns, cancellationToken: Ct));

        Assert.Equal(HttpStatusCode.Conflict, error.Response.StatusCode);
        Assert.Equal(2, _api.Get<V1Deployment>(Ns, "api")!.Spec.Replicas);
    }

    [Fact]
    public async Task JsonPatch_FailingTest_Throws422AndChangesNothing()
    {
        await _client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("api"), Ns, cancellationToken: Ct);
        var before = _api.Get("apps/v1", "Deployment", Ns, "api")!;

        var patch = "[{\"op\":\"test\",\"path\":\"/spec/replicas\",\"value\":7},{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":9}]";
        var error = await Assert.ThrowsAsync<HttpOperationException>(() =>
            _client.AppsV1.PatchNamespacedDeploymentAsync(new V1Patch(patch, V1Patch.PatchType.JsonPatch), "api", Ns, cancellationToken: Ct));
        var afterFailure = _api.Get("apps/v1", "Deployment", Ns, "api")!;
        var replaced = await _client.AppsV1.PatchNamespacedDeploymentAsync(
            new V1Patch("[{\"op\":\"test\",\"path\":\"/spec/replicas\",\"value\":1},{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":9}]", V1Patch.PatchType.JsonPatch),
            "api", Ns, cancellationToken: Ct);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, error.Response.StatusCode);
        Assert.Equal(Rv(before), Rv(afterFailure));
        Assert.Equal(1, afterFailure["spec"]!["replicas"]!.GetValue<int>());
        Assert.Equal(9, replaced.Spec.Replicas);
    }

    [Fact]
    public async Task List_LabelAndFieldSelectors_FilterItemsAndCarryCurrentResourceVersion()
    {
        var a = Secret("a");
        a.Metadata.Labels = new Dictionary<string, string> { ["app"] = "x", ["tier"] = "db" };
        var b = Secret("b");
        b.Metadata.Labels = new Dictionary<string, string> { ["app"] = "y" };
        await _client.CoreV1.CreateNamespacedSecretAsync(a, Ns, cancellationToken: Ct);
        await _client.CoreV1.CreateNamespacedSecretAsync(b, Ns, cancellationToken: Ct);
        await _client.CoreV1.CreateNamespacedSecretAsync(Secret("c"), "other", cancellationToken: Ct);

        var byLabel = await _client.CoreV1.ListNamespacedSecretAsync(Ns, labelSelector: "app in (x,z),tier", cancellationToken: Ct);
        var notX = await _client.CoreV1.ListNamespacedSecretAsync(Ns, labelSelector: "app!=x", cancellationToken: Ct);
        var byName = await _client.CoreV1.ListSecretForAllNamespacesAsync(fieldSelector: "metadata.name=c", cancellationToken: Ct);

        Assert.Equal(["a"], byLabel.Items.Select(s => s.Metadata.Name));
        Assert.Equal(["b"], notX.Items.Select(s => s.Metadata.Name));
        Assert.Equal(["other"], byName.Items.Select(s => s.Metadata.NamespaceProperty));
        Assert.Equal(_api.ResourceVersion, byName.Metadata.ResourceVersion);
    }

    // ------------------------------------------------------------------ custom resource and status subresource

    [Fact]
    public async Task DialogueProject_StatusPatch_ChangesOnlyStatusWithoutGenerationBump()
    {
        await _client.CustomObjects.CreateNamespacedCustomObjectAsync(Project("acme", "pro"), DialogueProject.Group, DialogueProject.Version, Ns, DialogueProject.Plural, cancellationToken: Ct);

        var status = new DialogueProject { Spec = null!, Status = new DialogueProjectStatus { ObservedGeneration = 1, Endpoint = "https://acme" } };
        status.Metadata.Name = "acme";
        status.Metadata.NamespaceProperty = Ns;
        status.Spec = new DialogueProjectSpec { Plan = "free" }; // a status write must not change spec
        await _client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(
            new V1Patch(status, V1Patch.PatchType.ApplyPatch), DialogueProject.Group, DialogueProject.Version, Ns, DialogueProject.Plural, "acme",
            fieldManager: "dialogue-operator", force: true, cancellationToken: Ct);
        var read = await _client.CustomObjects.GetNamespacedCustomObjectAsync<DialogueProject>(
            DialogueProject.Group, DialogueProject.Version, Ns, DialogueProject.Plural, "acme", cancellationToken: Ct);

        Assert.Equal("pro", read.Spec.Plan);
        Assert.Equal("https://acme", read.Status!.Endpoint);
        Assert.Equal(1, read.Metadata.Generation);
    }

    [Fact]
    public async Task DialogueProject_MainResourceWrite_IgnoresStatusAndBumpsGeneration()
    {
        _api.Put(Project("acme", "pro", new DialogueProjectStatus { Endpoint = "https://old" }));

        var changed = Project("acme", "business", new DialogueProjectStatus { Endpoint = "https://hacked" });
        await _client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch(changed, V1Patch.PatchType.ApplyPatch), DialogueProject.Group, DialogueProject.Version, Ns, DialogueProject.Plural, "acme",
            fieldManager: "kubectl", force: true, cancellationToken: Ct);
        var read = _api.Get<DialogueProject>(Ns, "acme")!;

        Assert.Equal("business", read.Spec.Plan);
        Assert.Equal("https://old", read.Status!.Endpoint);
        Assert.Equal(2, read.Metadata.Generation);
    }

    [Fact]
    public async Task DialogueProject_StatusApply_MergesConditionsByTypeAndDropsOnesNoLongerSent()
    {
        _api.Put(Project("acme", "pro"));
        _api.Edit(DialogueProject.GroupVersion, DialogueProject.KindName, Ns, "acme", p =>
            p["status"] = JsonNode.Parse("{\"conditions\":[{\"type\":\"External\",\"status\":\"True\"}]}"));

        await ApplyStatus(("Ready", "False"), ("Progressing", "True"));
        await ApplyStatus(("Ready", "True"));
        var conditions = _api.Get<DialogueProject>(Ns, "acme")!.Status!.Conditions!;

        Assert.Equal(["External:True", "Ready:True"], conditions.Select(c => $"{c.Type}:{c.Status}").Order(StringComparer.Ordinal));
    }

    // ------------------------------------------------------------------ server-side apply

    [Fact]
    public async Task Apply_Missing_Creates()
    {
        var applied = await ApplyDeployment(Deployment("api"), "op");

        Assert.Equal(1, applied.Metadata.Generation);
        Assert.NotNull(_api.Get("apps/v1", "Deployment", Ns, "api"));
        Assert.Equal("PATCH", _api.Requests.Single().Method);
        Assert.Contains("fieldManager=op", _api.Requests.Single().Query, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Apply_SameConfigAgain_DoesNotBumpResourceVersionOrNotifyWatchers()
    {
        var first = await ApplyDeployment(Deployment("api"), "op");
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        await using var events = WatchDeployments(first.Metadata.ResourceVersion, cts.Token).GetAsyncEnumerator(cts.Token);
        var nextEvent = events.MoveNextAsync().AsTask();

        var second = await ApplyDeployment(Deployment("api"), "op");
        _api.Edit("apps/v1", "Deployment", Ns, "api", d => d["metadata"]!["labels"]!["marker"] = "1");

        Assert.Equal(first.Metadata.ResourceVersion, second.Metadata.ResourceVersion);
        Assert.True(await nextEvent.WaitAsync(Patience, Ct));
        Assert.Equal(WatchEventType.Modified, events.Current.Item1);
        Assert.Equal("1", events.Current.Item2.Metadata.Labels["marker"]);
    }

    [Fact]
    public async Task Apply_FieldDroppedByManager_IsRemovedButForeignFieldsStay()
    {
        var withExtra = Deployment("api");
        withExtra.Metadata.Annotations = new Dictionary<string, string> { ["mine"] = "1" };
        withExtra.Spec.Template.Spec.Containers[0].Env = [new V1EnvVar { Name = "A", Value = "1" }, new V1EnvVar { Name = "B", Value = "2" }];
        await ApplyDeployment(withExtra, "op");
        _api.Edit("apps/v1", "Deployment", Ns, "api", d => d["metadata"]!["annotations"]!["theirs"] = "2");

        var without = Deployment("api");
        without.Spec.Template.Spec.Containers[0].Env = [new V1EnvVar { Name = "A", Value = "1" }];
        var result = await ApplyDeployment(without, "op");

        Assert.Equal(["theirs"], result.Metadata.Annotations.Keys);
        Assert.Equal(["A"], result.Spec.Template.Spec.Containers[0].Env.Select(e => e.Name));
    }

    [Fact]
    public async Task Apply_ChangingFieldOwnedByAnotherManagerWithoutForce_Throws409()
    {
        await ApplyDeployment(Deployment("api"), "op");
        _api.Edit("apps/v1", "Deployment", Ns, "api", d => d["spec"]!["replicas"] = 4);

        var error = await Assert.ThrowsAsync<HttpOperationException>(() => ApplyDeployment(Deployment("api"), "op", force: false));
        var sameValue = Deployment("api");
        sameValue.Spec.Replicas = 4;
        var shared = await ApplyDeployment(sameValue, "op", force: false);

        Assert.Equal(HttpStatusCode.Conflict, error.Response.StatusCode);
        Assert.Contains("kubectl-edit", error.Response.Content, StringComparison.Ordinal);
        Assert.Equal(4, shared.Spec.Replicas);
    }

    [Fact]
    public async Task Apply_WithForce_TakesOverFieldAndLaterDropRemovesIt()
    {
        var labelled = Deployment("api");
        labelled.Metadata.Labels["owner"] = "op";
        await ApplyDeployment(labelled, "op");
        _api.Edit("apps/v1", "Deployment", Ns, "api", d => d["metadata"]!["labels"]!["owner"] = "human");

        var forced = await ApplyDeployment(labelled, "op", force: true);
        var dropped = await ApplyDeployment(Deployment("api"), "op", force: false);

        Assert.Equal("op", forced.Metadata.Labels["owner"]);
        Assert.False(dropped.Metadata.Labels.ContainsKey("owner"));
    }

    [Fact]
    public async Task Apply_WithoutApiVersion_Throws400()
    {
        var deployment = Deployment("api");
        deployment.ApiVersion = null;

        var error = await Assert.ThrowsAsync<HttpOperationException>(() => ApplyDeployment(deployment, "op"));

        Assert.Equal(HttpStatusCode.BadRequest, error.Response.StatusCode);
    }

    // ------------------------------------------------------------------ deletion

    [Fact]
    public async Task Delete_WithFinalizer_MarksUntilLastFinalizerIsRemoved()
    {
        var project = Project("acme", "pro");
        project.Metadata.Finalizers = ["dialoguedb.io/cleanup"];
        _api.Put(project);

        await _client.CustomObjects.DeleteNamespacedCustomObjectAsync(DialogueProject.Group, DialogueProject.Version, Ns, DialogueProject.Plural, "acme", cancellationToken: Ct);
        var marked = _api.Get<DialogueProject>(Ns, "acme")!;
        var addFinalizer = await Assert.ThrowsAsync<HttpOperationException>(() => _client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch("{\"metadata\":{\"finalizers\":[\"dialoguedb.io/cleanup\",\"other\"]}}", V1Patch.PatchType.MergePatch),
            DialogueProject.Group, DialogueProject.Version, Ns, DialogueProject.Plural, "acme", cancellationToken: Ct));
        await _client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch($"{{\"metadata\":{{\"resourceVersion\":\"{marked.Metadata.ResourceVersion}\",\"finalizers\":null}}}}", V1Patch.PatchType.MergePatch),
            DialogueProject.Group, DialogueProject.Version, Ns, DialogueProject.Plural, "acme", cancellationToken: Ct);

        Assert.NotNull(marked.Metadata.DeletionTimestamp);
        Assert.Equal(2, marked.Metadata.Generation);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, addFinalizer.Response.StatusCode);
        Assert.Null(_api.Get<DialogueProject>(Ns, "acme"));
    }

    [Fact]
    public async Task Delete_Owner_CascadesToDependentsRecursively()
    {
        _api.Put(Project("acme", "pro"));
        var owner = _api.Get<DialogueProject>(Ns, "acme")!;
        var deployment = Deployment("acme-api");
        deployment.Metadata.OwnerReferences = [Owner(owner.Metadata.Uid, "acme")];
        var createdDeployment = await _client.AppsV1.CreateNamespacedDeploymentAsync(deployment, Ns, cancellationToken: Ct);
        var grandchild = Secret("acme-keys");
        grandchild.Metadata.OwnerReferences = [new V1OwnerReference { ApiVersion = "apps/v1", Kind = "Deployment", Name = "acme-api", Uid = createdDeployment.Metadata.Uid }];
        await _client.CoreV1.CreateNamespacedSecretAsync(grandchild, Ns, cancellationToken: Ct);
        await _client.CoreV1.CreateNamespacedSecretAsync(Secret("unrelated"), Ns, cancellationToken: Ct);

        _api.Remove(DialogueProject.GroupVersion, DialogueProject.KindName, Ns, "acme");

        Assert.Null(_api.Get<V1Deployment>(Ns, "acme-api"));
        Assert.Null(_api.Get<V1Secret>(Ns, "acme-keys"));
        Assert.NotNull(_api.Get<V1Secret>(Ns, "unrelated"));
    }

    [Fact]
    public async Task Delete_WithoutFinalizers_RemovesAtOnceAndReturnsSuccess()
    {
        await _client.CoreV1.CreateNamespacedSecretAsync(Secret("db"), Ns, cancellationToken: Ct);

        var status = await _client.CoreV1.DeleteNamespacedSecretAsync("db", Ns, cancellationToken: Ct);

        Assert.Equal("Success", status.Status);
        Assert.Empty(_api.List("v1", "Secret"));
    }

    // ------------------------------------------------------------------ watch

    [Fact]
    public async Task Watch_FromResourceVersion_ReplaysEveryLaterChangeThenLiveEvents()
    {
        var start = await _client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("a"), Ns, cancellationToken: Ct);
        await _client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("b"), Ns, cancellationToken: Ct);
        _api.Edit("apps/v1", "Deployment", Ns, "a", d => d["spec"]!["replicas"] = 2);
        await _client.AppsV1.DeleteNamespacedDeploymentAsync("b", Ns, cancellationToken: Ct);

        await using var events = WatchDeployments(start.Metadata.ResourceVersion, Ct).GetAsyncEnumerator(Ct);
        var seen = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            seen.Add(await Next(events));
        }

        await _client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("c"), Ns, cancellationToken: Ct);
        seen.Add(await Next(events));

        Assert.Equal(["Added b", "Modified a", "Deleted b", "Added c"], seen);
    }

    [Fact]
    public async Task Watch_WithoutResourceVersion_StartsWithSyntheticAddedForCurrentObjects()
    {
        _api.Put(Deployment("a"));
        var labelled = Deployment("b");
        labelled.Metadata.Labels["watched"] = "yes";
        _api.Put(labelled);

        var events = _client.AppsV1.ListNamespacedDeploymentWithHttpMessagesAsync(Ns, watch: true, labelSelector: "watched=yes", cancellationToken: Ct)
            .WatchAsync<V1Deployment, V1DeploymentList>(cancellationToken: Ct);
        await using var enumerator = events.GetAsyncEnumerator(Ct);
        var first = await Next(enumerator);
        _api.Edit("apps/v1", "Deployment", Ns, "b", d => d["metadata"]!["labels"]!.AsObject().Remove("watched"));
        var second = await Next(enumerator);

        Assert.Equal("Added b", first);
        Assert.Equal("Deleted b", second);
    }

    [Fact]
    public async Task Watch_AfterCompact_FailsWithHttp410()
    {
        var created = await _client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("a"), Ns, cancellationToken: Ct);
        _api.Edit("apps/v1", "Deployment", Ns, "a", d => d["spec"]!["replicas"] = 2);
        _api.Compact();

        var error = await Assert.ThrowsAsync<HttpOperationException>(async () =>
        {
            await foreach (var _ in WatchDeployments(created.Metadata.ResourceVersion, Ct))
            {
            }
        });
        var list = await Assert.ThrowsAsync<HttpOperationException>(() =>
            _client.AppsV1.ListNamespacedDeploymentAsync(Ns, resourceVersion: created.Metadata.ResourceVersion, cancellationToken: Ct));

        Assert.Equal(HttpStatusCode.Gone, error.Response.StatusCode);
        Assert.Equal(HttpStatusCode.Gone, list.Response.StatusCode);
        Assert.Equal(0, _api.OpenWatchCount);
    }

    [Fact]
    public async Task Watch_BreakWatches_ReportsKubernetesException410ThroughOnErrorAndEnds()
    {
        var created = await _client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("a"), Ns, cancellationToken: Ct);
        var errors = new List<Exception>();
        var events = _client.AppsV1.ListNamespacedDeploymentWithHttpMessagesAsync(Ns, watch: true, resourceVersion: created.Metadata.ResourceVersion, cancellationToken: Ct)
            .WatchAsync<V1Deployment, V1DeploymentList>(onError: errors.Add, cancellationToken: Ct);
        await using var enumerator = events.GetAsyncEnumerator(Ct);
        await WaitUntil(() => _api.OpenWatchCount == 1);

        _api.BreakWatches();
        var more = await enumerator.MoveNextAsync().AsTask().WaitAsync(Patience, Ct);

        Assert.False(more);
        var error = Assert.IsType<KubernetesException>(Assert.Single(errors));
        Assert.Equal(410, error.Status.Code);
        Assert.Equal(0, _api.OpenWatchCount);
    }

    [Fact]
    public async Task Watch_Hanging_EndsOnlyWhenClientCancels()
    {
        _api.HangWatches = true;
        _api.Put(Deployment("a"));
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        await using var events = WatchDeployments(null, cts.Token).GetAsyncEnumerator(cts.Token);
        var next = events.MoveNextAsync().AsTask();
        await WaitUntil(() => _api.OpenWatchCount == 1);

        _api.EndWatches();
        _api.BreakWatches();
        var early = await Task.WhenAny(next, Task.Delay(200, Ct));
        await cts.CancelAsync();

        Assert.NotSame(next, early);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => next.WaitAsync(Patience, Ct));
        await WaitUntil(() => _api.OpenWatchCount == 0);
    }

    [Fact]
    public async Task Watch_Bookmarks_CarryCurrentResourceVersionAndTimeoutEndsStream()
    {
        var created = await _client.AppsV1.CreateNamespacedDeploymentAsync(Deployment("a"), Ns, cancellationToken: Ct);
        var events = _client.AppsV1.ListNamespacedDeploymentWithHttpMessagesAsync(Ns, watch: true, resourceVersion: created.Metadata.ResourceVersion,
                allowWatchBookmarks: true, timeoutSeconds: 60, cancellationToken: Ct)
            .WatchAsync<V1Deployment, V1DeploymentList>(cancellationToken: Ct);
        await using var enumerator = events.GetAsyncEnumerator(Ct);
        var pending = enumerator.MoveNextAsync().AsTask();
        await WaitUntil(() => _api.OpenWatchCount == 1);

        _api.Put(Secret("unrelated"));
        _api.SendBookmarks();
        Assert.True(await pending.WaitAsync(Patience, Ct));
        var bookmark = enumerator.Current;
        _time.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(1, _api.OpenWatchCount);
        _time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(WatchEventType.Bookmark, bookmark.Item1);
        Assert.Equal(_api.ResourceVersion, bookmark.Item2.Metadata.ResourceVersion);
        Assert.True(await enumerator.MoveNextAsync().AsTask().WaitAsync(Patience, Ct));
        Assert.Equal(WatchEventType.Bookmark, enumerator.Current.Item1);
        Assert.False(await enumerator.MoveNextAsync().AsTask().WaitAsync(Patience, Ct));
        Assert.Equal(0, _api.OpenWatchCount);
    }

    [Fact]
    public async Task Watch_CustomObjects_SeeStatusWritesAsModified()
    {
        _api.Put(Project("acme", "pro"));
        var events = _client.CustomObjects.ListNamespacedCustomObjectWithHttpMessagesAsync<DialogueProjectList>(
                DialogueProject.Group, DialogueProject.Version, Ns, DialogueProject.Plural, watch: true, cancellationToken: Ct)
            .WatchAsync<DialogueProject, DialogueProjectList>(cancellationToken: Ct);
        await using var enumerator = events.GetAsyncEnumerator(Ct);
        var added = await Next(enumerator);

        await ApplyStatus(("Ready", "True"));
        Assert.True(await enumerator.MoveNextAsync().AsTask().WaitAsync(Patience, Ct));

        Assert.Equal("Added acme", added);
        Assert.Equal(WatchEventType.Modified, enumerator.Current.Item1);
        Assert.Equal("Ready", enumerator.Current.Item2.Status!.Conditions!.Single().Type);
    }

    // ------------------------------------------------------------------ fault injection and bookkeeping

    [Fact]
    public async Task FailNext_500_FailsMatchingRequestsThenRecovers()
    {
        _api.FailNext(r => r.Method == HttpMethod.Post, HttpStatusCode.InternalServerError, times: 2);

        var first = await Assert.ThrowsAsync<HttpOperationException>(() => _client.CoreV1.CreateNamespacedSecretAsync(Secret("db"), Ns, cancellationToken: Ct));
        await Assert.ThrowsAsync<HttpOperationException>(() => _client.CoreV1.CreateNamespacedSecretAsync(Secret("db"), Ns, cancellationToken: Ct));
        var created = await _client.CoreV1.CreateNamespacedSecretAsync(Secret("db"), Ns, cancellationToken: Ct);

        Assert.Equal(HttpStatusCode.InternalServerError, first.Response.StatusCode);
        var status = KubernetesJson.Deserialize<V1Status>(first.Response.Content);
        Assert.Equal("Failure", status.Status);
        Assert.Equal(500, status.Code);
        Assert.Equal("db", created.Metadata.Name);
    }

    [Fact]
    public async Task WriteCount_CountsWritesIncludingFailedOnesButNotReads()
    {
        await _client.CoreV1.CreateNamespacedSecretAsync(Secret("db"), Ns, cancellationToken: Ct);
        await Assert.ThrowsAsync<HttpOperationException>(() => _client.CoreV1.CreateNamespacedSecretAsync(Secret("db"), Ns, cancellationToken: Ct));
        await _client.CoreV1.ReadNamespacedSecretAsync("db", Ns, cancellationToken: Ct);
        await _client.CoreV1.ListNamespacedSecretAsync(Ns, cancellationToken: Ct);
        await _client.CoreV1.DeleteNamespacedSecretAsync("db", Ns, cancellationToken: Ct);

        Assert.Equal(3, _api.WriteCount);
        Assert.Equal(5, _api.Requests.Count);
        Assert.Equal($"/api/v1/namespaces/{Ns}/secrets", _api.Requests[0].Path);
        Assert.Contains("\"name\":\"db\"", _api.Requests[0].Body, StringComparison.Ordinal);
        Assert.Null(_api.Requests[2].Body);

        _api.ClearRequests();
        Assert.Equal(0, _api.WriteCount);
        Assert.Empty(_api.Requests);
    }

    [Fact]
    public async Task Lease_CreateAndReplace_WorkThroughCoordinationGroup()
    {
        var lease = new V1Lease { Metadata = new V1ObjectMeta { Name = "leader", NamespaceProperty = Ns }, Spec = new V1LeaseSpec { HolderIdentity = "pod-1" } };
        var created = await _client.CoordinationV1.CreateNamespacedLeaseAsync(lease, Ns, cancellationToken: Ct);

        created.Spec.HolderIdentity = "pod-2";
        var replaced = await _client.CoordinationV1.ReplaceNamespacedLeaseAsync(created, "leader", Ns, cancellationToken: Ct);
        var stale = await Assert.ThrowsAsync<HttpOperationException>(() => _client.CoordinationV1.ReplaceNamespacedLeaseAsync(created, "leader", Ns, cancellationToken: Ct));

        Assert.Equal("pod-2", replaced.Spec.HolderIdentity);
        Assert.Equal(HttpStatusCode.Conflict, stale.Response.StatusCode);
    }

    [Fact]
    public async Task CreateClient_SeveralClients_ShareOneStore()
    {
        await _client.CoreV1.CreateNamespacedSecretAsync(Secret("db"), Ns, cancellationToken: Ct);
        using var second = _api.CreateClient();
        using var third = _api.CreateClient();

        var read = await second.CoreV1.ReadNamespacedSecretAsync("db", Ns, cancellationToken: Ct);
        await third.CoreV1.DeleteNamespacedSecretAsync("db", Ns, cancellationToken: Ct);

        Assert.Equal("db", read.Metadata.Name);
        Assert.Null(_api.Get<V1Secret>(Ns, "db"));
    }

    // ------------------------------------------------------------------ helpers

    private Task<V1Deployment> ApplyDeployment(V1Deployment deployment, string manager, bool force = true) =>
        _client.AppsV1.PatchNamespacedDeploymentAsync(new V1Patch(deployment, V1Patch.PatchType.ApplyPatch), deployment.Metadata.Name, Ns,
            fieldManager: manager, force: force, cancellationToken: Ct);

    private async Task ApplyStatus(params (string Type, string Status)[] conditions)
    {
        var project = new DialogueProject
        {
            Spec = null!,
            Status = new DialogueProjectStatus { Conditions = [.. conditions.Select(c => new ProjectCondition { Type = c.Type, Status = c.Status })] },
        };
        project.Metadata.Name = "acme";
        project.Metadata.NamespaceProperty = Ns;
        await _client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(
            new V1Patch(project, V1Patch.PatchType.ApplyPatch), DialogueProject.Group, DialogueProject.Version, Ns, DialogueProject.Plural, "acme",
            fieldManager: "dialogue-operator", force: true, cancellationToken: Ct);
    }

    private IAsyncEnumerable<(WatchEventType, V1Deployment)> WatchDeployments(string? resourceVersion, CancellationToken cancellationToken) =>
        _client.AppsV1.ListNamespacedDeploymentWithHttpMessagesAsync(Ns, watch: true, resourceVersion: resourceVersion, allowWatchBookmarks: true,
                cancellationToken: cancellationToken)
            .WatchAsync<V1Deployment, V1DeploymentList>(onError: e => throw e, cancellationToken: cancellationToken);

    private static async Task<string> Next<T>(IAsyncEnumerator<(WatchEventType, T)> events)
        where T : IKubernetesObject<V1ObjectMeta>
    {
        Assert.True(await events.MoveNextAsync().AsTask().WaitAsync(Patience, Ct));
        return $"{events.Current.Item1} {events.Current.Item2.Metadata.Name}";
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not reached in time");
            await Task.Delay(10, Ct);
        }
    }

    private static string Rv(JsonObject obj) => obj["metadata"]!["resourceVersion"]!.GetValue<string>();

    private static V1Secret Secret(string name) => new()
    {
        ApiVersion = "v1",
        Kind = "Secret",
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = name == "c" ? "other" : Ns },
        Data = new Dictionary<string, byte[]> { ["password"] = "secret"u8.ToArray() },
    };

    private static V1Deployment Deployment(string name)
    {
        var labels = new Dictionary<string, string> { ["app"] = name };
        return new V1Deployment
        {
            ApiVersion = "apps/v1",
            Kind = "Deployment",
            Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = Ns, Labels = new Dictionary<string, string>(labels) },
            Spec = new V1DeploymentSpec
            {
                Replicas = 1,
                Selector = new V1LabelSelector { MatchLabels = labels },
                Template = new V1PodTemplateSpec
                {
                    Metadata = new V1ObjectMeta { Labels = labels },
                    Spec = new V1PodSpec { Containers = [new V1Container { Name = "api", Image = "dialoguedb:1" }] },
                },
            },
        };
    }

    private static DialogueProject Project(string name, string plan, DialogueProjectStatus? status = null)
    {
        var project = new DialogueProject { Spec = new DialogueProjectSpec { Plan = plan }, Status = status };
        project.Metadata.Name = name;
        project.Metadata.NamespaceProperty = Ns;
        return project;
    }

    private static V1OwnerReference Owner(string uid, string name) =>
        new() { ApiVersion = DialogueProject.GroupVersion, Kind = DialogueProject.KindName, Name = name, Uid = uid, BlockOwnerDeletion = true, Controller = true };
}
