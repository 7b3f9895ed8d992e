using System.Text;
using DialogueDb.Operator.Kubernetes;
using DialogueDb.Operator.Tests.EndToEnd;
using DialogueDb.Operator.Tests.Fakes;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;

namespace DialogueDb.Operator.Tests.Kubernetes;

/// <summary>
/// The operator's own Secrets read from the controller's Secret watch (a real <see cref="ResourceWatcher{T,TList}"/>
/// on the fake API server): requests counted exactly, with the watch current, lagging behind an own write, and not
/// having seen a Secret yet.
/// </summary>
public sealed class OwnSecretsTests : IAsyncDisposable
{
    private const string Ns = "team";
    private readonly FakeKubeApi _api = new();
    private readonly IKubernetes _client;
    private readonly ChildCache _children = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly OwnSecrets _secrets;
    private ResourceWatcher<V1Secret, V1SecretList>? _watcher;
    private Task? _watching;

    public OwnSecretsTests()
    {
        _client = _api.CreateClient();
        _secrets = new OwnSecrets(_client, _children);
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Read_OfAWatchedSecret_SendsNoRequest_AndGivesACopyTheCallerMayChange()
    {
        _api.Put(Secret("support-credentials", "one"));
        await WatchAsync();
        _api.ClearRequests();

        var read = await _secrets.ReadAsync(Ns, "support-credentials", Ct);
        read!.Data["value"] = Encoding.UTF8.GetBytes("changed by the caller");
        var again = await _secrets.ReadAsync(Ns, "support-credentials", Ct);

        Assert.Equal("one", Value(again));
        Assert.Empty(_api.Requests);
    }

    [Fact]
    public async Task Read_AfterAnOwnWrite_WhileTheWatchLags_GetsTheWrite_ThenTheWatchedCopyOnceItShowsIt()
    {
        _api.Put(Secret("support-tls", "before"));
        _api.HangWatches = true; // listed, then the watch delivers nothing: the watched copy stays "before"
        await WatchAsync();
        var stored = await _secrets.ReadAsync(Ns, "support-tls", Ct);
        stored!.Data["value"] = Encoding.UTF8.GetBytes("after");
        var written = await _secrets.ReplaceAsync(stored, Ct);
        Assert.Equal("before", Value((V1Secret)_children.Get("Secret", Ns, "support-tls")!));
        _api.ClearRequests();

        var whileLagging = await _secrets.ReadAsync(Ns, "support-tls", Ct);

        Assert.Equal("after", Value(whileLagging));
        Assert.Equal(["GET"], _api.Requests.Select(r => r.Method));

        _api.HangWatches = false; // the watcher's watchdog reopens the watch, which delivers the write
        await Eventually.UntilAsync(
            () => Task.FromResult(_children.Get("Secret", Ns, "support-tls")?.Metadata.ResourceVersion == written.Metadata.ResourceVersion),
            "the watch delivered the write", TimeSpan.FromSeconds(30), () => "", Ct);
        _api.ClearRequests();

        var caughtUp = await _secrets.ReadAsync(Ns, "support-tls", Ct);

        Assert.Equal("after", Value(caughtUp));
        Assert.DoesNotContain(_api.Requests, r => r.Path.Contains("/secrets", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Read_OfASecretTheWatchHasNotDelivered_IsAGet_AndAMissingOneIsNull()
    {
        _api.HangWatches = true;
        await WatchAsync();
        _api.Put(Secret("support-events-key", "new")); // written by another client; the watch never tells
        _api.ClearRequests();

        var found = await _secrets.ReadAsync(Ns, "support-events-key", Ct);
        var missing = await _secrets.ReadAsync(Ns, "nothing-here", Ct);

        Assert.Equal("new", Value(found));
        Assert.Null(missing);
        Assert.Equal(2, _api.Requests.Count(r => r.Method == "GET" && r.Path.Contains("/secrets/", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task List_ComesFromTheWatch_WithEveryLabel_InTheNamespace()
    {
        _api.Put(Secret("support-key-a", "a", component: "api-key"));
        _api.Put(Secret("support-key-b", "b", component: "api-key"));
        _api.Put(Secret("support-credentials", "c", component: "credentials"));
        await WatchAsync();
        _api.ClearRequests();

        var listed = await _secrets.ListAsync(Ns, new Dictionary<string, string>
        {
            ["dialoguedb.io/project"] = "support", ["app.kubernetes.io/component"] = "api-key",
        }, Ct);

        Assert.Equal(["support-key-a", "support-key-b"], listed.Select(s => s.Metadata.Name).Order(StringComparer.Ordinal));
        Assert.Empty(_api.Requests);
    }

    [Fact]
    public async Task Delete_OfASecretAlreadyGone_SaysSo()
    {
        _api.Put(Secret("support-key-old", "x", component: "api-key"));
        await WatchAsync();

        Assert.True(await _secrets.DeleteAsync(Ns, "support-key-old", Ct));
        Assert.False(await _secrets.DeleteAsync(Ns, "support-key-old", Ct));
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_watching is not null)
        {
            await _watching;
        }

        _stop.Dispose();
        _api.Dispose();
    }

    private async Task WatchAsync()
    {
        _watcher = new ResourceWatcher<V1Secret, V1SecretList>("Secret",
            (rv, watch, timeout, ct) => _client.CoreV1.ListSecretForAllNamespacesWithHttpMessagesAsync(
                allowWatchBookmarks: true, labelSelector: ProjectController.ManagedBySelector, resourceVersion: rv,
                timeoutSeconds: timeout, watch: watch, cancellationToken: ct),
            (_, _) => { }, TimeProvider.System, NullLogger.Instance)
        {
            Kind = "Secret",
            WatchTimeout = TimeSpan.FromSeconds(1),
            WatchGrace = TimeSpan.FromSeconds(1),
        };
        _children.Add("Secret", _watcher);
        _watching = Task.Run(() => _watcher.RunAsync(_stop.Token), Ct);
        await Eventually.UntilAsync(
            () => Task.FromResult(_watcher.IsSynced), "the Secret watch listed", TimeSpan.FromSeconds(30), () => "", Ct);
    }

    private static V1Secret Secret(string name, string value, string component = "tls") => new()
    {
        ApiVersion = "v1",
        Kind = "Secret",
        Metadata = new V1ObjectMeta
        {
            Name = name,
            NamespaceProperty = Ns,
            Labels = new Dictionary<string, string>
            {
                ["app.kubernetes.io/managed-by"] = "dialoguedb-operator",
                ["dialoguedb.io/project"] = "support",
                ["app.kubernetes.io/component"] = component,
            },
        },
        Data = new Dictionary<string, byte[]> { ["value"] = Encoding.UTF8.GetBytes(value) },
    };

    private static string Value(V1Secret? secret) => Encoding.UTF8.GetString(secret!.Data["value"]);
}
