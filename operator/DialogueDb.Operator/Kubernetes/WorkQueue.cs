namespace DialogueDb.Operator.Kubernetes;

/// <summary>
/// A keyed work queue with client-go semantics: a key waiting in the queue is not added twice; a key added while a
/// worker holds it is processed again once, after that worker is done (never by two workers at once); failures are
/// retried with a per-key exponential backoff capped at <see cref="MaxBackoff"/>, forever (dropping a key after a few
/// errors would leave a tenant stuck until someone edits it); a delayed add keeps the earliest time.
/// </summary>
internal sealed class WorkQueue<T> : IDisposable where T : notnull
{
    public static readonly TimeSpan BaseBackoff = TimeSpan.FromMilliseconds(200);
    /// <summary>A minute at most: a fixed database or Redis should not wait long (and reconcile-at retries at once).</summary>
    public static readonly TimeSpan MaxBackoff = TimeSpan.FromMinutes(1);

    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private readonly LinkedList<T> _ready = new();
    private readonly HashSet<T> _queued = [];
    private readonly HashSet<T> _processing = [];
    private readonly HashSet<T> _dirty = [];
    private readonly Dictionary<T, int> _failures = [];
    private readonly Dictionary<T, (DateTimeOffset Due, ITimer Timer)> _delayed = [];
    private readonly Dictionary<T, long> _addedAt = [];
    private readonly SemaphoreSlim _signal = new(0);
    private readonly OperatorMetrics? _metrics;
    private bool _disposed;

    public WorkQueue(TimeProvider time, OperatorMetrics? metrics = null)
    {
        _time = time;
        _metrics = metrics;
    }

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _ready.Count;
            }
        }
    }

    /// <summary>No key is waiting, being processed or due again after processing (keys delayed by a timer do not count).</summary>
    public bool IsIdle
    {
        get
        {
            lock (_gate)
            {
                return _ready.Count == 0 && _processing.Count == 0 && _dirty.Count == 0;
            }
        }
    }

    public void Add(T key)
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            if (_processing.Contains(key))
            {
                _dirty.Add(key);
                return;
            }

            if (_queued.Add(key))
            {
                _ready.AddLast(key);
                _addedAt[key] = _time.GetTimestamp();
                _metrics?.QueueAdded();
                _signal.Release();
            }
        }
    }

    /// <summary>Adds the key after <paramref name="delay"/>; when it is already due earlier, the earlier time wins.</summary>
    public void AddAfter(T key, TimeSpan delay)
    {
        if (delay <= TimeSpan.Zero)
        {
            Add(key);
            return;
        }

        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            var due = _time.GetUtcNow() + delay;
            if (_delayed.TryGetValue(key, out var existing))
            {
                if (existing.Due <= due)
                {
                    return;
                }

                existing.Timer.Dispose();
            }

            var timer = _time.CreateTimer(_ => Fire(key, due), null, delay, Timeout.InfiniteTimeSpan);
            _delayed[key] = (due, timer);
        }
    }

    /// <summary>Adds the key after its next backoff: 200 ms, 400 ms, ... up to five minutes.</summary>
    public TimeSpan AddRateLimited(T key)
    {
        TimeSpan delay;
        lock (_gate)
        {
            var failures = _failures.GetValueOrDefault(key);
            _failures[key] = failures + 1;
            delay = Backoff(failures);
        }

        _metrics?.QueueRetried();

        AddAfter(key, delay);
        return delay;
    }

    public static TimeSpan Backoff(int failures) =>
        failures >= 20 ? MaxBackoff : TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, BaseBackoff.Ticks << failures));

    /// <summary>Resets the key's backoff after a success.</summary>
    public void Forget(T key)
    {
        lock (_gate)
        {
            _failures.Remove(key);
        }
    }

    public int Failures(T key)
    {
        lock (_gate)
        {
            return _failures.GetValueOrDefault(key);
        }
    }

    /// <summary>Waits for the next key; the caller must call <see cref="Done"/> with it.</summary>
    public async Task<T> TakeAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            await _signal.WaitAsync(cancellationToken);
            lock (_gate)
            {
                if (_ready.First is { } first)
                {
                    _ready.RemoveFirst();
                    _queued.Remove(first.Value);
                    _processing.Add(first.Value);
                    if (_addedAt.Remove(first.Value, out var added))
                    {
                        _metrics?.QueueWaited(_time.GetElapsedTime(added));
                    }

                    return first.Value;
                }
            }
        }
    }

    public void Done(T key)
    {
        bool again;
        lock (_gate)
        {
            _processing.Remove(key);
            again = _dirty.Remove(key);
        }

        if (again)
        {
            Add(key);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            foreach (var (_, timer) in _delayed.Values)
            {
                timer.Dispose();
            }

            _delayed.Clear();
        }

        _signal.Dispose();
    }

    private void Fire(T key, DateTimeOffset due)
    {
        lock (_gate)
        {
            if (!_delayed.TryGetValue(key, out var entry) || entry.Due != due)
            {
                return;
            }

            entry.Timer.Dispose();
            _delayed.Remove(key);
        }

        Add(key);
    }
}
