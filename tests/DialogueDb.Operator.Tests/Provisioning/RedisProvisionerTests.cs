using System.Text;
using DialogueDb.Operator.Provisioning;
using DialogueDb.Service.Audit;
using DialogueDb.Service.RateLimiting;
using DialogueDb.Service.Redis;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace DialogueDb.Operator.Tests.Provisioning;

/// <summary>
/// The provisioner against a real Redis 7, logging in as the users it creates with a real ConnectionMultiplexer (the
/// library's own handshake included) and running the service's own Redis code over that connection.
/// </summary>
public sealed class RedisProvisionerTests : IAsyncLifetime
{
    private readonly List<(string User, string Prefix)> _created = [];
    private readonly List<IAsyncDisposable> _disposables = [];
    private string _adminConfiguration = "";
    private RedisProvisioner _provisioner = null!;
    private ConnectionMultiplexer _admin = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _adminConfiguration = ProvisioningServers.RedisAdmin();
        _provisioner = new RedisProvisioner(_adminConfiguration, NullLogger<RedisProvisioner>.Instance);
        _admin = await ConnectionMultiplexer.ConnectAsync(_adminConfiguration + ",allowAdmin=true");
    }

    public async ValueTask DisposeAsync()
    {
        if (_provisioner is null)
        {
            return;
        }

        foreach (var disposable in _disposables)
        {
            await disposable.DisposeAsync();
        }

        foreach (var (user, prefix) in _created)
        {
            await _provisioner.DropUserAsync(user, prefix, CancellationToken.None);
        }

        await _provisioner.DisposeAsync();
        if (_admin is not null)
        {
            await _admin.DisposeAsync();
        }
    }

    [Fact]
    public async Task EnsureUserAsync_NewUser_LibraryConnectsAndServiceRedisCodeWorksOnItsPrefix()
    {
        var (names, password) = NewProject();

        await _provisioner.EnsureUserAsync(names.RedisUser, password, names.RedisKeyPrefix, Ct);

        // A default multiplexer as the user: its handshake (and its configuration channel) must not need more.
        var connection = await ConnectAsAsync(names.RedisUser, password);
        Assert.True(connection.IsConnected);
        var db = connection.GetDatabase();
        Assert.True(await db.PingAsync() > TimeSpan.Zero);
        // Really logged in as the user (a failed AUTH would leave the test server's password-less default user).
        Assert.True(await LogsInAsync(names.RedisUser, password));
        await AssertNoPermAsync(() => db.StringGetAsync("unprefixed"));
        Assert.True(await db.StringSetAsync(names.RedisKeyPrefix + "probe", "1"));
        Assert.Equal("1", (string?)await db.StringGetAsync(names.RedisKeyPrefix + "probe"));
        var scripted = await db.ScriptEvaluateAsync("redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])",
            [(RedisKey)(names.RedisKeyPrefix + "scripted")], ["via-lua"]);
        Assert.Equal("via-lua", (string?)scripted);

        // The service's own code, through the service's connection class, as the service uses it.
        await using var service = new RedisConnection($"redis://{names.RedisUser}:{password}@{_admin.GetEndPoints()[0].ToRedisUrlHost()}");
        var limiter = new RedisRateLimiter(service);
        var keys = new RedisKeys(names.RedisKeyPrefix);
        var first = await limiter.AcquireAsync(keys.Rate, ratePerSecond: 5, cost: 1, Ct);
        var second = await limiter.AcquireAsync(keys.Rate, ratePerSecond: 5, cost: 1, Ct);
        Assert.True(first.Allowed);
        Assert.True(second.Allowed);
        Assert.Equal(first.Remaining - 1, second.Remaining);

        var stream = keys.Events;
        var sink = new RedisStreamSink(service, stream, maxLength: 1000, retention: () => TimeSpan.FromDays(1), TimeProvider.System);
        await sink.PublishAsync([Encoding.UTF8.GetBytes("""{"type":"dialogue.created","id":"d-1"}"""),
                                 Encoding.UTF8.GetBytes("""{"type":"dialogue.created","id":"d-2"}""")], Ct);
        await sink.TrimAsync(Ct); // XTRIM MINID by retention is allowed (and keeps what is younger than the window)
        // What `dialoguedb events tail` sends: XREVRANGE for the newest entry, then XREAD after a position.
        var serviceDb = await service.DatabaseAsync();
        var last = await serviceDb.StreamRangeAsync(stream, "-", "+", count: 1, messageOrder: Order.Descending);
        Assert.Equal("d-2", (string?)last.Single()["id"]);
        var all = await serviceDb.StreamRangeAsync(stream, "-", "+");
        Assert.Equal(2, all.Length);
        var after = await serviceDb.StreamReadAsync(stream, all[0].Id, count: 100);
        Assert.Equal("d-2", (string?)after.Single()["id"]);
    }

    [Fact]
    public async Task EnsureUserAsync_OtherPrefixScriptsAndAdminCommands_NoPerm()
    {
        var (mine, password) = NewProject();
        var (theirs, theirPassword) = NewProject();
        await _provisioner.EnsureUserAsync(mine.RedisUser, password, mine.RedisKeyPrefix, Ct);
        await _provisioner.EnsureUserAsync(theirs.RedisUser, theirPassword, theirs.RedisKeyPrefix, Ct);
        await _admin.GetDatabase().StringSetAsync(theirs.RedisKeyPrefix + "rate", "secret");
        var db = (await ConnectAsAsync(mine.RedisUser, password)).GetDatabase();

        await AssertNoPermAsync(() => db.StringGetAsync(theirs.RedisKeyPrefix + "rate"));
        await AssertNoPermAsync(() => db.StringSetAsync(theirs.RedisKeyPrefix + "rate", "0"));
        await AssertNoPermAsync(() => db.StreamAddAsync(theirs.RedisKeyPrefix + "events", "type", "forged"));
        await AssertNoPermAsync(() => db.StringGetAsync("unprefixed"));
        // A script cannot reach outside the prefix either (Redis 7 checks commands inside scripts against the ACL).
        await AssertNoPermAsync(() => db.ScriptEvaluateAsync("return redis.call('GET', KEYS[1])", [(RedisKey)(theirs.RedisKeyPrefix + "rate")]));
        await AssertDeniedInScriptAsync(() => db.ScriptEvaluateAsync(
            $"return redis.call('GET', '{theirs.RedisKeyPrefix}rate')", [(RedisKey)(mine.RedisKeyPrefix + "x")]));
        foreach (var command in (string[][])
                 [["KEYS", "*"], ["SCAN", "0"], ["CONFIG", "GET", "*"], ["CONFIG", "SET", "maxmemory", "1"], ["ACL", "LIST"],
                  ["ACL", "SETUSER", mine.RedisUser, "+@all"], ["MODULE", "LIST"], ["CLIENT", "LIST"], ["SELECT", "1"],
                  ["PUBLISH", mine.RedisKeyPrefix + "c", "x"], ["SUBSCRIBE", mine.RedisKeyPrefix + "c"], ["XGROUP", "DESTROY", mine.RedisKeyPrefix + "events", "g"]])
        {
            Assert.Contains("no permissions", await DryRunAsync(mine.RedisUser, command), StringComparison.Ordinal);
            await AssertNoPermAsync(() => db.ExecuteAsync(command[0], [.. command.Skip(1).Cast<object>()]));
        }

        // Destructive commands: refused by the ACL (ACL DRYRUN) before they are tried for real, so that a wrong ACL
        // fails this test instead of wiping the shared server.
        foreach (var command in (string[][])
                 [["FLUSHALL"], ["FLUSHDB"], ["SCRIPT", "FLUSH"], ["CLIENT", "KILL", "TYPE", "normal"], ["SHUTDOWN", "NOSAVE"]])
        {
            Assert.Contains("no permissions", await DryRunAsync(mine.RedisUser, command), StringComparison.Ordinal);
            await AssertNoPermAsync(() => db.ExecuteAsync(command[0], [.. command.Skip(1).Cast<object>()]));
        }

        // Refused by the ACL too, but only checked with DRYRUN: DEBUG is also disabled by the server's configuration,
        // and MONITOR would turn the connection into a feed.
        foreach (var command in (string[][])[["DEBUG", "SLEEP", "0"], ["MONITOR"]])
        {
            Assert.Contains("no permissions", await DryRunAsync(mine.RedisUser, command), StringComparison.Ordinal);
        }

        Assert.Equal("secret", (string?)await _admin.GetDatabase().StringGetAsync(theirs.RedisKeyPrefix + "rate"));
    }

    [Fact]
    public async Task EnsureUserAsync_RerunAfterTamperingWithNewPassword_ConvergesAndKeepsLoggedInClients()
    {
        var (names, password) = NewProject();
        await _provisioner.EnsureUserAsync(names.RedisUser, password, names.RedisKeyPrefix, Ct);
        var rulesBefore = await AclRulesAsync(names.RedisUser);
        var connected = (await ConnectAsAsync(names.RedisUser, password)).GetDatabase();
        await _admin.GetServers()[0].ExecuteAsync("ACL", "SETUSER", names.RedisUser, "+flushall", "allkeys", ">extra-password");

        await _provisioner.EnsureUserAsync(names.RedisUser, password, names.RedisKeyPrefix, Ct);
        Assert.Equal(rulesBefore, await AclRulesAsync(names.RedisUser));

        var rotated = ProvisioningServers.NewPassword();
        await _provisioner.EnsureUserAsync(names.RedisUser, rotated, names.RedisKeyPrefix, Ct);

        Assert.Equal(rulesBefore, await AclRulesAsync(names.RedisUser));
        Assert.True(await connected.StringSetAsync(names.RedisKeyPrefix + "still", "connected"));
        var fresh = await ConnectAsAsync(names.RedisUser, rotated);
        Assert.Equal("connected", (string?)await fresh.GetDatabase().StringGetAsync(names.RedisKeyPrefix + "still"));
        Assert.False(await LogsInAsync(names.RedisUser, password));
        Assert.False(await LogsInAsync(names.RedisUser, "extra-password"));
    }

    [Fact]
    public async Task DropUserAsync_UserWithManyKeys_RemovesUserAndAllItsKeysButNoOthersAndRerunIsNoOp()
    {
        var (names, password) = NewProject();
        var (other, _) = NewProject();
        await _provisioner.EnsureUserAsync(names.RedisUser, password, names.RedisKeyPrefix, Ct);
        var db = _admin.GetDatabase();
        // More than one SCAN page and one UNLINK batch.
        await Task.WhenAll(Enumerable.Range(0, 1234).Select(i => db.StringSetAsync($"{names.RedisKeyPrefix}k{i}", i)));
        await db.StreamAddAsync(names.RedisKeyPrefix + "events", "type", "x");
        await db.StringSetAsync(other.RedisKeyPrefix + "rate", "kept");
        await db.StringSetAsync(names.RedisKeyPrefix.TrimEnd(':') + "-lookalike", "kept");
        var loggedIn = (await ConnectAsAsync(names.RedisUser, password)).GetDatabase();
        Assert.True(await loggedIn.PingAsync() > TimeSpan.Zero);

        await _provisioner.DropUserAsync(names.RedisUser, names.RedisKeyPrefix, Ct);

        Assert.True((await _admin.GetServers()[0].ExecuteAsync("ACL", "GETUSER", names.RedisUser)).IsNull);
        Assert.Equal(0, await CountKeysAsync(names.RedisKeyPrefix));
        Assert.Equal("kept", (string?)await db.StringGetAsync(other.RedisKeyPrefix + "rate"));
        Assert.Equal("kept", (string?)await db.StringGetAsync(names.RedisKeyPrefix.TrimEnd(':') + "-lookalike"));
        await db.KeyDeleteAsync(names.RedisKeyPrefix.TrimEnd(':') + "-lookalike");
        Assert.False(await LogsInAsync(names.RedisUser, password));

        await _provisioner.DropUserAsync(names.RedisUser, names.RedisKeyPrefix, Ct);
        Assert.True((await _admin.GetServers()[0].ExecuteAsync("ACL", "GETUSER", names.RedisUser)).IsNull);
    }

    [Fact]
    public async Task DropUserAsync_PrefixWithGlobCharacters_MatchesOnlyTheLiteralPrefix()
    {
        var suffix = ProvisioningServers.UniqueNamespace("g");
        var user = "ddb_glob_" + suffix.Replace('-', '_');
        var prefix = $"ddb:{{{suffix}[ab]*?\\}}:";
        // Keys an unescaped pattern would also match: "[ab]" matches "a", "*" anything, "?" one character.
        var lookalikes = new[] { $"ddb:{{{suffix}a-x\\}}:k", $"ddb:{{{suffix}b\\}}:k", $"ddb:{{{suffix}[ab]xx\\}}:k" };
        var password = ProvisioningServers.NewPassword();
        _created.Add((user, prefix));
        await _provisioner.EnsureUserAsync(user, password, prefix, Ct);
        var admin = _admin.GetDatabase();
        foreach (var key in lookalikes)
        {
            await admin.StringSetAsync(key, "kept");
        }

        var db = (await ConnectAsAsync(user, password)).GetDatabase();
        Assert.True(await db.StringSetAsync(prefix + "mine", "1"));
        await AssertNoPermAsync(() => db.StringGetAsync(lookalikes[0]));

        await _provisioner.DropUserAsync(user, prefix, Ct);

        Assert.False(await admin.KeyExistsAsync(prefix + "mine"));
        foreach (var key in lookalikes)
        {
            Assert.Equal("kept", (string?)await admin.StringGetAsync(key));
            await admin.KeyDeleteAsync(key);
        }
    }

    [Theory]
    [InlineData("ddb:{acme}:", "ddb:{acme}:")]
    [InlineData("a*b?c[d]e\\f", "a\\*b\\?c\\[d\\]e\\\\f")]
    public void EscapeGlob_Prefix_EscapesOnlyGlobCharacters(string prefix, string expected)
    {
        Assert.Equal(expected, RedisProvisioner.EscapeGlob(prefix));
    }

    [Theory]
    [InlineData("default", "ddb:{x}:")]
    [InlineData("Upper", "ddb:{x}:")]
    [InlineData("has space", "ddb:{x}:")]
    [InlineData("ddb_x", "")]
    [InlineData("ddb_x", "with space:")]
    public async Task EnsureUserAsync_InvalidUserOrPrefix_ThrowsArgumentException(string user, string prefix)
    {
        await Assert.ThrowsAsync<ArgumentException>(() => _provisioner.EnsureUserAsync(user, "pw", prefix, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => _provisioner.DropUserAsync(user, prefix, Ct));
    }

    [Fact]
    public async Task EnsureUserAsync_UnsupportedPassword_ThrowsWithoutShowingIt()
    {
        var (names, _) = NewProject();

        var ex = await Assert.ThrowsAsync<ArgumentException>(() =>
            _provisioner.EnsureUserAsync(names.RedisUser, "secret with space", names.RedisKeyPrefix, Ct));

        Assert.DoesNotContain("secret", ex.Message, StringComparison.Ordinal);
        Assert.True((await _admin.GetServers()[0].ExecuteAsync("ACL", "GETUSER", names.RedisUser)).IsNull);
    }

    private (ProjectIdentity Names, string Password) NewProject()
    {
        var names = ProjectIdentity.For(ProvisioningServers.UniqueNamespace(), "support");
        _created.Add((names.RedisUser, names.RedisKeyPrefix));
        return (names, ProvisioningServers.NewPassword());
    }

    private async Task<ConnectionMultiplexer> ConnectAsAsync(string user, string password)
    {
        var options = ConfigurationOptions.Parse(_adminConfiguration);
        options.User = user;
        options.Password = password;
        // Lets the library send admin commands at all, so the tests show that Redis itself refuses them.
        options.AllowAdmin = true;
        var connection = await ConnectionMultiplexer.ConnectAsync(options);
        _disposables.Add(connection);
        return connection;
    }

    /// <summary>
    /// Whether AUTH as <paramref name="user"/> succeeds. Checked with an explicit AUTH on a connection of its own:
    /// the test server's default user has no password, so a multiplexer whose AUTH fails still connects (as default).
    /// </summary>
    private async Task<bool> LogsInAsync(string user, string password)
    {
        await using var connection = await ConnectionMultiplexer.ConnectAsync(_adminConfiguration);
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

    /// <summary>What ACL DRYRUN says about <paramref name="user"/> running <paramref name="command"/> ("OK" when allowed).</summary>
    private async Task<string> DryRunAsync(string user, string[] command) =>
        (string)(await _admin.GetServers()[0].ExecuteAsync("ACL", ["DRYRUN", user, .. command]))!;

    /// <summary>The user's rules as ACL GETUSER reports them, without the password hashes.</summary>
    private async Task<string> AclRulesAsync(string user)
    {
        var result = (RedisResult[])(await _admin.GetServers()[0].ExecuteAsync("ACL", "GETUSER", user))!;
        var text = new StringBuilder();
        for (var i = 0; i + 1 < result.Length; i += 2)
        {
            if ((string?)result[i] is "passwords")
            {
                text.Append("passwords=").Append(((RedisResult[])result[i + 1]!).Length).Append(';');
                continue;
            }

            text.Append((string?)result[i]).Append('=').Append(result[i + 1].ToString()).Append(';');
        }

        return text.ToString();
    }

    private async Task<int> CountKeysAsync(string prefix)
    {
        var count = 0;
        await foreach (var _ in _admin.GetServers()[0].KeysAsync(pattern: RedisProvisioner.EscapeGlob(prefix) + "*"))
        {
            count++;
        }

        return count;
    }

    /// <summary>A command inside a script touching a key outside the prefix ("NOPERM" from Redis 7.2, an ERR before).</summary>
    private static async Task AssertDeniedInScriptAsync(Func<Task> action)
    {
        var ex = await Assert.ThrowsAsync<RedisServerException>(action);
        Assert.True(ex.Message.StartsWith("NOPERM", StringComparison.Ordinal)
            || ex.Message.Contains("can't access at least one of the keys", StringComparison.Ordinal), ex.Message);
    }

    private static async Task AssertNoPermAsync(Func<Task> action)
    {
        var ex = await Assert.ThrowsAsync<RedisServerException>(action);
        Assert.StartsWith("NOPERM", ex.Message, StringComparison.Ordinal);
    }
}

internal static class EndPointExtensions
{
    /// <summary>"host:port" of a DNS or IP endpoint, for a redis:// URL.</summary>
    public static string ToRedisUrlHost(this System.Net.EndPoint endPoint) => endPoint switch
    {
        System.Net.IPEndPoint ip => $"{ip.Address}:{ip.Port}",
        System.Net.DnsEndPoint dns => $"{dns.Host}:{dns.Port}",
        _ => throw new NotSupportedException(endPoint.ToString()),
    };
}
