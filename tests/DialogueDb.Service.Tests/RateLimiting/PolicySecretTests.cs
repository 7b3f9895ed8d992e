using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Security;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.RateLimiting;

/// <summary>
/// The project policy read and watched through the Kubernetes API (as the operator deploys it): key revocation and plan
/// changes reach the running service within 2 seconds; a malformed policy is ignored; the watch survives its end.
/// </summary>
public sealed class PolicySecretTests : IAsyncLifetime
{
    private const string Namespace = "tenant-a";
    private const string SecretName = "acme-policy";

    private readonly FakeKubernetesSecrets _kubernetes = new();
    private readonly TestFolder _dataDir = new();
    private ServiceHost _host = null!;
    private ApiKeyHasher _hasher = null!;
    private ProjectDocument _policy = null!;
    private string _key = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        TestProject.Write(_dataDir.Path, "acme");
        var options = new ServiceOptions
        {
            DataDir = _dataDir.Path,
            Urls = "https://127.0.0.1:0",
            PolicySecret = $"{Namespace}/{SecretName}",
        };
        _hasher = new ApiKeyHasher(DevProject.LoadOrCreateHashSecret(options.ApiKeyHashSecretPath));
        (var keyId, _key) = ApiKeyHasher.NewKey();
        _policy = new ProjectDocument("acme", [new ApiKeyRecord(keyId, "app", ApiKeyRecord.ReadWrite, _hasher.Hash(_key))])
        {
            Plan = PlanCatalog.Enterprise,
            Limits = new LimitOverrides { MemoriesStored = 1 },
        };
        await _kubernetes.PutAsync(Namespace, SecretName, "project.json", _policy.ToJson());
        _host = await ServiceHost.StartAsync(options, _kubernetes.Client());
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _kubernetes.CloseWatchesAsync();
            await _host.DisposeAsync();
            _kubernetes.Dispose();
        }
        finally
        {
            _dataDir.Dispose();
        }
    }

    [Fact]
    public async Task PlanUpgrade_InTheSecret_UnblocksWritesWithinTwoSeconds()
    {
        using var client = _host.CreateClient(_key);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsJsonAsync("api/v1/memory?namespace=p1", new { value = 1 }, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await client.PostAsJsonAsync("api/v1/memory?namespace=p1", new { value = 2 }, Ct)).StatusCode);

        await _kubernetes.PutAsync(Namespace, SecretName, "project.json",
            (_policy with { Limits = new LimitOverrides { MemoriesStored = 5 } }).ToJson());

        var took = await UntilAsync(async () =>
            (await client.PostAsJsonAsync("api/v1/memory?namespace=p1", new { value = 3 }, Ct)).StatusCode == HttpStatusCode.OK);
        Assert.True(took < TimeSpan.FromSeconds(2), $"took {took.TotalMilliseconds} ms");
    }

    [Fact]
    public async Task KeyRevoked_InTheSecret_RejectedWithinTwoSeconds_EvenAfterTheWatchWasReopened()
    {
        using var client = _host.CreateClient(_key);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/dialogue", Ct)).StatusCode);

        // The API server ends watches on its own schedule; the service must open a new one and keep following.
        var before = _kubernetes.WatchRequests;
        await _kubernetes.CloseWatchesAsync();
        await UntilAsync(() => Task.FromResult(_kubernetes.WatchRequests > before));

        await _kubernetes.PutAsync(Namespace, SecretName, "project.json", (_policy with { ApiKeys = [] }).ToJson());
        var took = await UntilAsync(async () =>
            (await client.GetAsync("api/v1/dialogue", Ct)).StatusCode == HttpStatusCode.Unauthorized);
        Assert.True(took < TimeSpan.FromSeconds(2), $"took {took.TotalMilliseconds} ms");
    }

    [Fact]
    public async Task MalformedPolicy_InTheSecret_IgnoredAndLogged()
    {
        await _kubernetes.PutAsync(Namespace, SecretName, "project.json", """{"projectId":"acme","plan":"platinum","apiKeys":[]}""");
        await UntilAsync(() => Task.FromResult(_host.Logs.All.Contains("Rejected a change to the project policy", StringComparison.Ordinal)));

        using var client = _host.CreateClient(_key);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/dialogue", Ct)).StatusCode);
        Assert.Contains("unknown plan", _host.Logs.All, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingSecret_AtStart_ClearError()
    {
        using var dataDir = new TestFolder();
        TestProject.Write(dataDir.Path, "acme");

        var ex = Assert.Throws<InvalidOperationException>(() => ApiHost.CreateBuilder([], new ServiceOptions
        {
            DataDir = dataDir.Path,
            Urls = "https://127.0.0.1:0",
            PolicySecret = $"{Namespace}/does-not-exist",
        }, kubernetes: _kubernetes.Client()));

        Assert.Contains("tenant-a/does-not-exist", ex.Message, StringComparison.Ordinal);
    }

    private static async Task<TimeSpan> UntilAsync(Func<Task<bool>> condition)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), "the condition never held");
            await Task.Delay(50, Ct);
        }

        return watch.Elapsed;
    }
}
