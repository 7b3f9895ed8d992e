using System.Diagnostics;
using System.Net;
using System.Text;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Security;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace DialogueDb.Service.Tests.Security;

public sealed class ApiKeyFormatTests
{
    [Fact]
    public void NewKey_Format_PrefixIdAndValidChecksum()
    {
        var (keyId, key) = ApiKeyHasher.NewKey();

        Assert.StartsWith("ddb_" + keyId + "_", key, StringComparison.Ordinal);
        Assert.Equal(ApiKeyHasher.KeyLength, key.Length);
        Assert.Equal(keyId, ApiKeyHasher.KeyIdOf(key));
    }

    [Fact]
    public void KeyIdOf_AnySingleCharacterChanged_RejectedWithoutLookup()
    {
        var (_, key) = ApiKeyHasher.NewKey();
        for (var i = 4; i < key.Length; i++)
        {
            if (key[i] == '_')
            {
                continue;
            }

            var typo = key[..i] + (key[i] == 'a' ? 'b' : 'a') + key[(i + 1)..];
            Assert.Null(ApiKeyHasher.KeyIdOf(typo));
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("ddb_")]
    [InlineData("sk_live_0000000000000000000000000000000000000000000000000000000")]
    [InlineData("Bearer ddb_xxxxxxxxxxxx_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")]
    public void KeyIdOf_NotAKey_Null(string text) => Assert.Null(ApiKeyHasher.KeyIdOf(text));

    [Fact]
    public void Hash_IsKeyedAndVerifiesOnlyTheSameKey()
    {
        var hasher = new ApiKeyHasher(ApiKeyHasher.NewHashSecret());
        var (_, key) = ApiKeyHasher.NewKey();
        var (_, other) = ApiKeyHasher.NewKey();
        var stored = hasher.Hash(key);

        Assert.True(hasher.Matches(key, stored));
        Assert.False(hasher.Matches(other, stored));
        Assert.False(new ApiKeyHasher(ApiKeyHasher.NewHashSecret()).Matches(key, stored));
        Assert.DoesNotContain(key, stored, StringComparison.Ordinal);
    }
}

/// <summary>Keys added or revoked in the project file take effect on a running server within 2 seconds, and never leak.</summary>
public sealed class ApiKeyLifecycleTests : IAsyncLifetime
{
    private readonly TestFolder _dataDir = new();
    private ServiceHost _host = null!;
    private ServiceOptions _options = null!;
    private ApiKeyHasher _hasher = null!;
    private string _key = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _key = TestProject.Write(_dataDir.Path, "lifecycle").ReadWrite;
        _options = new ServiceOptions { DataDir = _dataDir.Path, Urls = "https://127.0.0.1:0" };
        _hasher = new ApiKeyHasher(DevProject.LoadOrCreateHashSecret(_options.ApiKeyHashSecretPath));
        _host = await ServiceHost.StartAsync(_options);
    }

    public ValueTask DisposeAsync() => _dataDir.DeleteAfterAsync(_host);

    /// <summary>
    /// A key added to or removed from the project file takes effect at the reloader's next poll (every 500 ms; the poll
    /// is run here directly, so the test does not depend on the machine's speed — ReloadingFilesTests covers the timer).
    /// </summary>
    [Fact]
    public async Task AddedKey_WorksAfterTheNextPoll_RevokedKey_RejectedAfterTheNextPoll()
    {
        var reloader = _host.Services.GetRequiredService<ReloadingFiles<ProjectDocument>>();
        var (keyId, key) = ApiKeyHasher.NewKey();
        using var client = _host.CreateClient(key);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("api/v1/dialogue", Ct)).StatusCode);
        var project = ProjectDocument.Read(_options.ProjectFilePath);
        (project with { ApiKeys = [.. project.ApiKeys, new ApiKeyRecord(keyId, "added", ApiKeyRecord.ReadWrite, _hasher.Hash(key))] })
            .Write(_options.ProjectFilePath);
        reloader.Poll();

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/dialogue", Ct)).StatusCode);

        project = ProjectDocument.Read(_options.ProjectFilePath);
        (project with { ApiKeys = [.. project.ApiKeys.Where(k => k.Id != keyId)] }).Write(_options.ProjectFilePath);
        reloader.Poll();

        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("api/v1/dialogue", Ct)).StatusCode);
        using var original = _host.CreateClient(_key);
        Assert.Equal(HttpStatusCode.OK, (await original.GetAsync("api/v1/dialogue", Ct)).StatusCode);
    }

    [Fact]
    public async Task MalformedProjectFile_LastGoodStaysInForceAndIsLogged()
    {
        var good = await File.ReadAllTextAsync(_options.ProjectFilePath, Ct);
        try
        {
            await File.WriteAllTextAsync(_options.ProjectFilePath, "{ not json", Ct);
            var deadline = Stopwatch.StartNew();
            while (!_host.Logs.All.Contains("Rejected a change to the project file", StringComparison.Ordinal)
                   && deadline.Elapsed < TimeSpan.FromSeconds(5))
            {
                await Task.Delay(100, Ct);
            }

            Assert.Contains("Rejected a change to the project file", _host.Logs.All, StringComparison.Ordinal);
            using var client = _host.CreateClient(_key);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("api/v1/dialogue", Ct)).StatusCode);
        }
        finally
        {
            await File.WriteAllTextAsync(_options.ProjectFilePath, good, Ct);
        }
    }

    [Fact]
    public async Task Keys_ValidInvalidRevokedMalformed_NeverInLogsOrBodies()
    {
        var (revokedId, revoked) = ApiKeyHasher.NewKey();
        var project = ProjectDocument.Read(_options.ProjectFilePath);
        (project with { ApiKeys = [.. project.ApiKeys, new ApiKeyRecord(revokedId, "soon-revoked", ApiKeyRecord.ReadWrite, _hasher.Hash(revoked))] })
            .Write(_options.ProjectFilePath);
        using (var probe = _host.CreateClient(revoked))
        {
            await WaitForStatusAsync(probe, HttpStatusCode.OK);
        }

        (project with { ApiKeys = [.. project.ApiKeys] }).Write(_options.ProjectFilePath);
        using (var probe = _host.CreateClient(revoked))
        {
            await WaitForStatusAsync(probe, HttpStatusCode.Unauthorized);
        }

        var (_, unknown) = ApiKeyHasher.NewKey();
        var typo = _key[..^1] + (_key[^1] == 'x' ? 'y' : 'x');
        string[] secrets = [_key, revoked, unknown, typo];
        var bodies = new StringBuilder();
        foreach (var presented in secrets)
        {
            using var client = _host.CreateClient();
            foreach (var (method, path, body) in (ValueTuple<HttpMethod, string, string?>[])
                     [
                         (HttpMethod.Get, "api/v1/dialogue", null),
                         (HttpMethod.Post, "api/v1/dialogue", """{"state":{"k":1}}"""),
                         (HttpMethod.Post, "api/v1/messages?dialogueId=nope", "[{\"role\":\"user\"}]"),
                         (HttpMethod.Get, "api/v1/memory/missing", null),
                         (HttpMethod.Post, "api/v1/dialogue", "{ broken json"),
                         (HttpMethod.Get, "no/such/route", null),
                     ])
            {
                foreach (var header in (string[])[$"Bearer {presented}", presented, $"Basic {presented}", $"Bearer  {presented} "])
                {
                    using var request = new HttpRequestMessage(method, path);
                    request.Headers.TryAddWithoutValidation("Authorization", header);
                    if (body is not null)
                    {
                        request.Content = new StringContent(body);
                    }

                    using var response = await client.SendAsync(request, Ct);
                    bodies.AppendLine(await response.Content.ReadAsStringAsync(Ct));
                    bodies.AppendLine(string.Join(";", response.Headers.Select(h => h.Key + "=" + string.Join(",", h.Value))));
                }
            }
        }

        var logs = _host.Logs.All;
        Assert.NotEmpty(_host.Logs.Lines);
        foreach (var secret in secrets)
        {
            var secretPart = secret.Split('_')[2];
            Assert.DoesNotContain(secretPart, logs, StringComparison.Ordinal);
            Assert.DoesNotContain(secretPart, bodies.ToString(), StringComparison.Ordinal);
        }
    }

    /// <summary>Polls until the status is reached; returns how long it took (fails after 5 s).</summary>
    private static async Task<TimeSpan> WaitForStatusAsync(HttpClient client, HttpStatusCode status)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(5))
        {
            using var response = await client.GetAsync("api/v1/dialogue", Ct);
            if (response.StatusCode == status)
            {
                return watch.Elapsed;
            }

            await Task.Delay(50, Ct);
        }

        Assert.Fail($"never answered {(int)status} within 5 s");
        return watch.Elapsed;
    }
}
