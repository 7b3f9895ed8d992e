using System.Net;
using StackExchange.Redis;

namespace DialogueDb.Service.Redis;

/// <summary>
/// The one shared Redis multiplexer. Accepts <c>redis://[user:password@]host[:port][/db]</c>, <c>rediss://</c> (TLS) or
/// a StackExchange.Redis configuration string. Never blocks start-up: it connects in the background and reconnects on
/// its own, and commands time out quickly so an outage costs a fast failure, not a hang.
/// </summary>
internal sealed class RedisConnection : IAsyncDisposable
{
    private readonly Lazy<Task<ConnectionMultiplexer>> _multiplexer;

    public RedisConnection(string configuration)
    {
        Options = Parse(configuration);
        _multiplexer = new Lazy<Task<ConnectionMultiplexer>>(() => ConnectionMultiplexer.ConnectAsync(Options));
    }

    public ConfigurationOptions Options { get; }

    public async Task<IDatabase> DatabaseAsync() => (await _multiplexer.Value).GetDatabase();

    public static ConfigurationOptions Parse(string configuration)
    {
        ConfigurationOptions options;
        if (configuration.StartsWith("redis://", StringComparison.OrdinalIgnoreCase)
            || configuration.StartsWith("rediss://", StringComparison.OrdinalIgnoreCase))
        {
            var uri = new Uri(configuration);
            options = new ConfigurationOptions { Ssl = uri.Scheme == "rediss" };
            options.EndPoints.Add(uri.Host, uri.IsDefaultPort || uri.Port < 0 ? 6379 : uri.Port);
            if (uri.UserInfo.Length > 0)
            {
                var parts = uri.UserInfo.Split(':', 2);
                if (parts.Length == 2)
                {
                    options.User = parts[0].Length == 0 ? null : WebUtility.UrlDecode(parts[0]);
                    options.Password = WebUtility.UrlDecode(parts[1]);
                }
                else
                {
                    options.Password = WebUtility.UrlDecode(parts[0]);
                }
            }

            if (uri.AbsolutePath.Trim('/') is { Length: > 0 } db && int.TryParse(db, out var number))
            {
                options.DefaultDatabase = number;
            }
        }
        else
        {
            options = ConfigurationOptions.Parse(configuration);
        }

        options.AbortOnConnectFail = false;
        options.ConnectTimeout = 1000;
        options.AsyncTimeout = 250;
        options.SyncTimeout = 250;
        options.ConnectRetry = 1;
        options.ClientName = "dialoguedb";
        return options;
    }

    public async ValueTask DisposeAsync()
    {
        if (_multiplexer.IsValueCreated)
        {
            await (await _multiplexer.Value).DisposeAsync();
        }
    }
}
