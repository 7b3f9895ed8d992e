using System.Collections.Concurrent;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace DialogueDb.Operator.Kubernetes;

/// <summary>Opens a list (watch false) or a watch (watch true) of one kind from a resourceVersion.</summary>
internal delegate Task<HttpOperationResponse<TList>> ListCall<TList>(
    string? resourceVersion, bool watch, int? timeoutSeconds, CancellationToken cancellationToken);

/// <summary>
/// Keeps a local copy of one kind (an informer): lists, then watches from the list's resourceVersion, and hands every
/// change to a callback. Bookmarks only move the resourceVersion. Both forms of 410 Gone (an HTTP 410 when the watch
/// opens, an in-stream ERROR event, which the client reports only through onError) drop the resourceVersion and
/// relist. Each watch asks the server to end it after a few minutes and is cancelled client-side a little later, so a
/// connection that silently died cannot hang the watcher (kubernetes-client/csharp#533, #884).
/// </summary>
internal sealed partial class ResourceWatcher<T, TList> : IResourceCache<T>
    where T : class, IKubernetesObject<V1ObjectMeta>
    where TList : class, IKubernetesObject<V1ListMeta>, IItems<T>
{
    private readonly string _name;
    private readonly ListCall<TList> _list;
    private readonly Action<WatchEventType, T> _onEvent;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<(string?, string), T> _store = new();
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ResourceWatcher(string name, ListCall<TList> list, Action<WatchEventType, T> onEvent, TimeProvider time, ILogger logger)
    {
        _name = name;
        _list = list;
        _onEvent = onEvent;
        _time = time;
        _logger = logger;
    }

    /// <summary>How long the server keeps one watch open; the client gives up <see cref="WatchGrace"/> later.</summary>
    public TimeSpan WatchTimeout { get; init; } = TimeSpan.FromMinutes(5);

    public TimeSpan WatchGrace { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Where watch restarts and 410 relists are counted, under <see cref="Kind"/> (never a namespace).</summary>
    public OperatorMetrics? Metrics { get; init; }

    public string Kind { get; init; } = typeof(T).Name;

    public string? ResourceVersion { get; private set; }

    public bool IsSynced => _synced.Task.IsCompleted;

    public T? Get(string? ns, string name) => _store.TryGetValue((ns, name), out var value) ? value : null;

    public IReadOnlyCollection<T> Items => [.. _store.Values];

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var failures = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (ResourceVersion is null)
                {
                    await RelistAsync(cancellationToken);
                }

                await WatchOnceAsync(cancellationToken);
                failures = 0;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (IsGone(ex))
            {
                LogGone(_logger, _name);
                Metrics?.WatchRelisted(Kind);
                ResourceVersion = null;
            }
            catch (Exception ex)
            {
                failures++;
                var delay = TimeSpan.FromSeconds(Math.Min(30, Math.Pow(2, Math.Min(failures, 5)))) +
                            TimeSpan.FromMilliseconds(Random.Shared.Next(0, 1000));
                LogWatchFailed(_logger, _name, failures, delay.TotalSeconds, ex.GetType().Name, Describe(ex));
                Metrics?.WatchRestarted(Kind);
                try
                {
                    await Task.Delay(delay, _time, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private async Task RelistAsync(CancellationToken cancellationToken)
    {
        using var response = await _list(null, false, null, cancellationToken);
        var list = response.Body;
        var seen = new HashSet<(string?, string)>();
        foreach (var item in list.Items)
        {
            var key = (item.Metadata.NamespaceProperty, item.Metadata.Name);
            seen.Add(key);
            _store[key] = item;
            _onEvent(WatchEventType.Modified, item);
        }

        // Objects deleted while no watch was open show up only as missing from the new list.
        foreach (var (key, gone) in _store.Where(kv => !seen.Contains(kv.Key)).ToList())
        {
            _store.TryRemove(key, out _);
            _onEvent(WatchEventType.Deleted, gone);
        }

        ResourceVersion = list.Metadata.ResourceVersion;
        _synced.TrySetResult();
    }

    private async Task WatchOnceAsync(CancellationToken cancellationToken)
    {
        // Jitter spreads the reconnects of many watches; the client-side deadline is a little after the server's.
        var seconds = (int)WatchTimeout.TotalSeconds + Random.Shared.Next(0, Math.Max(1, (int)WatchTimeout.TotalSeconds / 10));
        using var watchdog = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        watchdog.CancelAfter(TimeSpan.FromSeconds(seconds) + WatchGrace);
        Exception? streamError = null;
        try
        {
#pragma warning disable CS0618 // The typed WatchAsync is obsolete in 21.x, but its replacement is untyped for custom objects.
            var events = _list(ResourceVersion, true, seconds, watchdog.Token)
                .WatchAsync<T, TList>(onError: ex => streamError ??= ex, cancellationToken: watchdog.Token);
#pragma warning restore CS0618
            await foreach (var (type, item) in events)
            {
                if (streamError is not null)
                {
                    break;
                }

                if (item?.Metadata?.ResourceVersion is { } version)
                {
                    ResourceVersion = version;
                }

                if (item is null || type is WatchEventType.Bookmark or WatchEventType.Error)
                {
                    continue;
                }

                var key = (item.Metadata.NamespaceProperty, item.Metadata.Name);
                if (type == WatchEventType.Deleted)
                {
                    _store.TryRemove(key, out _);
                }
                else
                {
                    _store[key] = item;
                }

                _onEvent(type, item);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The watchdog fired: the server never ended the watch. Reconnect from the last resourceVersion.
            LogWatchdog(_logger, _name);
        }

        if (streamError is not null)
        {
            throw streamError;
        }
    }

    private static bool IsGone(Exception ex) => ex switch
    {
        KubernetesException k => k.Status?.Code == 410,
        HttpOperationException h => (int)h.Response.StatusCode == 410,
        _ => false,
    };

    private static string Describe(Exception ex) => ex is HttpOperationException h ? $"HTTP {(int)h.Response.StatusCode}" : ex.Message;

    [LoggerMessage(Level = LogLevel.Information, Message = "Watch of {Kind}: resourceVersion expired (410 Gone), listing again")]
    private static partial void LogGone(ILogger logger, string kind);

    [LoggerMessage(
        Level = LogLevel.Warning, Message = "Watch of {Kind} failed ({Failures} in a row), retrying in {Seconds:F1} s: {Error} {Detail}")]
    private static partial void LogWatchFailed(ILogger logger, string kind, int failures, double seconds, string error, string detail);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Watch of {Kind} outlived its timeout; reconnecting")]
    private static partial void LogWatchdog(ILogger logger, string kind);
}

/// <summary>The local copy of one kind.</summary>
internal interface IResourceCache<out T>
{
    bool IsSynced { get; }

    T? Get(string? ns, string name);

    IReadOnlyCollection<T> Items { get; }
}
