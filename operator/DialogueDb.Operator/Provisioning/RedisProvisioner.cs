using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace DialogueDb.Operator.Provisioning;

/// <summary>
/// Creates, converges and removes a project's ACL user on the shared Redis (6.2 or later; 7 recommended, where
/// commands inside scripts are checked against the key patterns too), limited to the project's key prefix.
/// </summary>
/// <remarks>
/// ACL users are per server and are not replicated, so every command here goes to every server the admin
/// configuration lists. ACLs made with ACL SETUSER live in memory only (unless the server's aclfile is saved): the
/// operator's reconcile loop re-creates them after a Redis restart. The password is sent only as its SHA-256
/// (<c>#hash</c>), so it never appears in clear in Redis (MONITOR, SLOWLOG), and is never logged.
/// </remarks>
internal sealed partial class RedisProvisioner(string adminConfiguration, ILogger<RedisProvisioner> logger) : IAsyncDisposable
{
    /// <summary>
    /// Everything the service and StackExchange.Redis need; the rest (-@all, which <c>reset</c> implies) is denied,
    /// including KEYS, SCAN, FLUSHALL, FLUSHDB, CONFIG, ACL, DEBUG, MODULE, SHUTDOWN, MONITOR, SCRIPT FLUSH/KILL,
    /// SELECT, CLIENT KILL/LIST and the pub/sub commands (the service uses none). The library's handshake also tries
    /// CONFIG GET, GET __Booksleeve_TieBreak and SUBSCRIBE __Booksleeve_MasterChanged; it connects fine when they are
    /// refused (tested), and allowing them would let a tenant read the server's configuration or listen on a channel
    /// shared by every client of the server.
    /// </summary>
    internal static readonly string[] AllowedCommands =
    [
        // Connection handshake and health: AUTH/HELLO to log in, CLIENT SETNAME for the library's name, PING and
        // ECHO as its keep-alive and connection check, ROLE and INFO to tell a primary from a replica.
        "+auth", "+hello", "+client|setname", "+client|id", "+ping", "+echo", "+role", "+info",
        // Topology discovery on a Redis Cluster (what the prefix's hash tag is for); refused harmlessly elsewhere.
        "+cluster|slots", "+cluster|nodes",
        // Rate limiting: one GCRA Lua script (EVALSHA, EVAL when the server does not have it yet), which calls TIME,
        // GET and SET on the project's key.
        "+evalsha", "+eval", "+script|load", "+script|exists", "+time", "+get", "+set",
        // Audit events: XADD with MAXLEN to the project's stream, XTRIM MINID by retention; `events tail` reads it with
        // XREVRANGE and XREAD.
        "+xadd", "+xtrim", "+xrange", "+xrevrange", "+xread", "+xlen",
    ];

    /// <summary>CLIENT SETINFO (the library's name and version, sent on connect) exists since Redis 7.2.</summary>
    private static readonly Version ClientSetInfoSince = new(7, 2);

    private readonly SemaphoreSlim _connectGate = new(1, 1);
    private ConnectionMultiplexer? _connection;

    /// <summary>
    /// Idempotently makes <paramref name="user"/> exist with exactly this password and these rules. <c>reset</c>
    /// comes first and Redis applies the whole rule list atomically, so a re-run converges a user changed by hand and
    /// never leaves a moment where it has no password or extra rights; clients already logged in stay connected.
    /// </summary>
    public async Task EnsureUserAsync(string user, string password, string keyPrefix, CancellationToken ct)
    {
        ValidateUser(user);
        ValidatePrefix(keyPrefix);
        if (!Passwords.IsSupported(password))
        {
            throw new ArgumentException(Passwords.Rule, nameof(password));
        }

        var pattern = EscapeGlob(keyPrefix) + "*";
        var arguments = new List<object>
        {
            "SETUSER", user, "reset", "on", "#" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(password))),
            "~" + pattern, "&" + pattern,
        };
        arguments.AddRange(AllowedCommands);
        foreach (var server in await ServersAsync(ct))
        {
            // Redis refuses a rule naming a command it does not know, so commands newer than 7.0 depend on the server.
            var rules = server.Version >= ClientSetInfoSince ? [.. arguments, "+client|setinfo"] : arguments;
            await server.ExecuteAsync("ACL", rules).WaitAsync(ct);
        }

        LogUserEnsured(logger, user);
    }

    /// <summary>
    /// Deletes the user (Redis also disconnects its clients) and every key under <paramref name="keyPrefix"/>; a no-op
    /// for what is already gone. Keys are found with SCAN (never KEYS, which blocks the server) and removed with UNLINK.
    /// </summary>
    public async Task DropUserAsync(string user, string keyPrefix, CancellationToken ct)
    {
        ValidateUser(user);
        ValidatePrefix(keyPrefix);
        var servers = await ServersAsync(ct);
        foreach (var server in servers)
        {
            await server.ExecuteAsync("ACL", "DELUSER", user).WaitAsync(ct);
        }

        var connection = await ConnectAsync(ct);
        var database = connection.GetDatabase().Database;
        var pattern = EscapeGlob(keyPrefix) + "*";
        long deleted = 0;
        foreach (var server in servers.Where(s => !s.IsReplica))
        {
            var batch = new List<RedisKey>(BatchSize);
            await foreach (var key in server.KeysAsync(database, pattern, pageSize: BatchSize).WithCancellation(ct))
            {
                batch.Add(key);
                if (batch.Count == BatchSize)
                {
                    deleted += await UnlinkAsync(connection, server, database, batch, ct);
                    batch.Clear();
                }
            }

            deleted += await UnlinkAsync(connection, server, database, batch, ct);
        }

        LogUserDropped(logger, user, deleted);
    }

    /// <summary>What of the project is still on the servers: its ACL user, and whether keys under its prefix remain.</summary>
    public async Task<IReadOnlyList<string>> RemainingAsync(string user, string keyPrefix, CancellationToken ct)
    {
        ValidateUser(user);
        ValidatePrefix(keyPrefix);
        var left = new List<string>();
        var servers = await ServersAsync(ct);
        foreach (var server in servers)
        {
            if (!(await server.ExecuteAsync("ACL", "GETUSER", user).WaitAsync(ct)).IsNull)
            {
                left.Add("Redis user " + user);
                break;
            }
        }

        var database = (await ConnectAsync(ct)).GetDatabase().Database;
        foreach (var server in servers.Where(s => !s.IsReplica))
        {
            await foreach (var _ in server.KeysAsync(database, EscapeGlob(keyPrefix) + "*", pageSize: BatchSize).WithCancellation(ct))
            {
                left.Add("Redis keys under " + keyPrefix);
                return left;
            }
        }

        return left;
    }

    /// <summary>
    /// Escapes Redis glob characters (<c>* ? [ ] \</c>) so that a prefix matches only itself in SCAN MATCH and in ACL
    /// key patterns. Braces are not glob characters in Redis and stay as they are.
    /// </summary>
    internal static string EscapeGlob(string value)
    {
        var builder = new StringBuilder(value.Length + 4);
        foreach (var c in value)
        {
            if (c is '*' or '?' or '[' or ']' or '\\')
            {
                builder.Append('\\');
            }

            builder.Append(c);
        }

        return builder.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync();
        }

        _connectGate.Dispose();
    }

    private const int BatchSize = 500;

    private static async Task<long> UnlinkAsync(ConnectionMultiplexer connection, IServer server, int database, List<RedisKey> keys,
        CancellationToken ct)
    {
        long deleted = 0;
        // One UNLINK per hash slot: Redis Cluster refuses multi-key commands across slots.
        foreach (var slot in keys.GroupBy(k => connection.HashSlot(k)))
        {
            var arguments = new List<object>(slot.Count() + 1);
            arguments.AddRange(slot.Select(k => (object)k));
            var result = await server.ExecuteAsync(database, "UNLINK", arguments).WaitAsync(ct);
            deleted += (long)result;
        }

        return deleted;
    }

    /// <summary>GETs <paramref name="keys"/> in one pipelined batch (keys of any hash slot); null where a key is absent.</summary>
    public async Task<IReadOnlyList<string?>> ReadAsync(IReadOnlyList<string> keys, CancellationToken ct)
    {
        var database = (await ConnectAsync(ct)).GetDatabase();
        var batch = database.CreateBatch();
        var reads = keys.Select(k => batch.StringGetAsync(k)).ToList();
        batch.Execute();
        var values = await Task.WhenAll(reads).WaitAsync(ct);
        return [.. values.Select(v => v.IsNull ? null : (string?)v)];
    }

    private async Task<IServer[]> ServersAsync(CancellationToken ct)
    {
        var connection = await ConnectAsync(ct);
        var servers = connection.GetServers();
        if (servers.Length == 0 || servers.Any(s => !s.IsConnected))
        {
            // Half-applied ACLs (a user on some servers only) are worse than a retry of the whole reconcile.
            throw new InvalidOperationException("Not every Redis server of the admin configuration is connected.");
        }

        return servers;
    }

    private async Task<ConnectionMultiplexer> ConnectAsync(CancellationToken ct)
    {
        if (_connection is { } existing)
        {
            return existing;
        }

        await _connectGate.WaitAsync(ct);
        try
        {
            if (_connection is null)
            {
                var options = ConfigurationOptions.Parse(adminConfiguration);
                options.AllowAdmin = true;
                _connection = await ConnectionMultiplexer.ConnectAsync(options).WaitAsync(ct);
            }

            return _connection;
        }
        finally
        {
            _connectGate.Release();
        }
    }

    private static void ValidateUser(string user)
    {
        if (user is null || !UserName().IsMatch(user) || user == "default")
        {
            throw new ArgumentException(
                $"'{user}' is not a valid Redis user name for a project: use ^[a-z_][a-z0-9_]{{0,62}}$.", nameof(user));
        }
    }

    /// <summary>Printable ASCII without spaces: a prefix must read the same in ACL LIST and an ACL file.</summary>
    private static void ValidatePrefix(string keyPrefix)
    {
        if (keyPrefix is null || keyPrefix.Length is 0 or > 512 || !keyPrefix.All(c => c is >= '!' and <= '~'))
        {
            throw new ArgumentException("A key prefix must be 1 to 512 printable ASCII characters without spaces.", nameof(keyPrefix));
        }
    }

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$")]
    private static partial Regex UserName();

    [LoggerMessage(Level = LogLevel.Information, Message = "Redis ACL user {User} converged")]
    private static partial void LogUserEnsured(ILogger logger, string user);

    [LoggerMessage(Level = LogLevel.Information, Message = "Dropped Redis ACL user {User} and {Keys} keys under its prefix")]
    private static partial void LogUserDropped(ILogger logger, string user, long keys);
}
