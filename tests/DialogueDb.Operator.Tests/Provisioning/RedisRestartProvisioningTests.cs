using DialogueDb.Operator.Provisioning;
using DialogueDb.Service.Redis;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;
using Testcontainers.Redis;

namespace DialogueDb.Operator.Tests.Provisioning;

/// <summary>
/// A shared Redis restarted under a tenant, in a container: ACL users are never in the append-only file, so even a
/// persistent Redis comes back without the tenant's user while its keys are still there. The reconciler provisions
/// again about once per resync period (ProjectReconciler); this shows that provisioning again brings the user back
/// with its old key prefix, and that the service's own connection logs in again by itself.
/// </summary>
[Collection(typeof(RedisRestartRunsAlone))]
public sealed class RedisRestartProvisioningTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task PersistentRedisRestarted_KeysSurviveUserIsLost_ProvisioningAgainRestoresItAndTheServiceReconnects()
    {
        await ContainerEngine.RequireAsync(ContainerEngine.RedisImage);
        var port = ContainerEngine.FreeHostPort();
        await using var redis = new RedisBuilder(ContainerEngine.RedisImage)
            .WithPortBinding(port, RedisBuilder.RedisPort)
            .WithCommand("--appendonly", "yes", "--appendfsync", "always")
            .Build();
        await redis.StartAsync(Ct);
        var admin = $"127.0.0.1:{port}";
        await using var provisioner = new RedisProvisioner(admin, NullLogger<RedisProvisioner>.Instance);
        var names = ProjectIdentity.For(ProvisioningServers.UniqueNamespace(), "support");
        var password = ProvisioningServers.NewPassword();
        await provisioner.EnsureUserAsync(names.RedisUser, password, names.RedisKeyPrefix, Ct);

        // The service's connection as the tenant's user, as the API pod holds it.
        await using var service = new RedisConnection($"redis://{names.RedisUser}:{password}@127.0.0.1:{port}");
        var serviceDb = await service.DatabaseAsync();
        Assert.True(await serviceDb.StringSetAsync(names.RedisKeyPrefix + "kept", "before the restart"));

        await redis.StopAsync(Ct);
        await redis.StartAsync(Ct);
        Assert.Equal(port, redis.GetMappedPublicPort(RedisBuilder.RedisPort));

        Assert.False(await LogsInAsync(admin, names.RedisUser, password), "the ACL user should be gone after the restart");
        await using (var check = await ConnectionMultiplexer.ConnectAsync(admin))
        {
            Assert.Equal("before the restart", (string?)await check.GetDatabase().StringGetAsync(names.RedisKeyPrefix + "kept"));
        }

        await ProvisionAgainAsync(provisioner, names, password);

        Assert.True(await LogsInAsync(admin, names.RedisUser, password));
        var read = await ReadAsync(serviceDb, names.RedisKeyPrefix + "kept");
        Assert.Equal("before the restart", read);
    }

    /// <summary>
    /// The reconciler's next provisioning: until the provisioner's own connection is back, EnsureUserAsync refuses
    /// (half-applied ACLs are worse than a retry) and the reconcile is retried as any failed reconcile is.
    /// </summary>
    private static async Task ProvisionAgainAsync(RedisProvisioner provisioner, ProjectIdentity names, string password)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await provisioner.EnsureUserAsync(names.RedisUser, password, names.RedisKeyPrefix, Ct);
                return;
            }
            catch (Exception ex) when (ex is InvalidOperationException or RedisException && watch.Elapsed < TimeSpan.FromSeconds(20))
            {
                await Task.Delay(250, Ct);
            }
        }
    }

    /// <summary>Reads through the service's connection, retrying while it reconnects (the library does that by itself).</summary>
    private static async Task<string?> ReadAsync(IDatabase db, string key)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return await db.StringGetAsync(key);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException && watch.Elapsed < TimeSpan.FromSeconds(20))
            {
                await Task.Delay(200, Ct);
            }
        }
    }

    /// <summary>Whether AUTH as <paramref name="user"/> succeeds, on a connection of its own.</summary>
    private static async Task<bool> LogsInAsync(string admin, string user, string password)
    {
        await using var connection = await ConnectionMultiplexer.ConnectAsync(admin);
        try
        {
            await connection.GetServers()[0].ExecuteAsync("AUTH", user, password);
            return true;
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("WRONGPASS", StringComparison.Ordinal))
        {
            return false;
        }
    }
}

/// <summary>The restart test runs alone: its container's stop and start should not share the two cores with timed tests.</summary>
[CollectionDefinition(DisableParallelization = true)]
public sealed class RedisRestartRunsAlone;
