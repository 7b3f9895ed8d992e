namespace DialogueDb.Service.Api;

/// <summary>
/// Caps the bytes that request bodies being buffered may hold at once (DIALOGUEDB_MAX_BUFFERED_BODY_BYTES): a request
/// reserves its body's size (its Content-Length, or the body limit when the length is not announced) before reading it
/// and gives it back when the parsed body is disposed. Reservations are all-or-nothing and first come, first served,
/// so concurrent large bodies wait their turn instead of growing the heap (or deadlocking on partial reservations).
/// When the budget is whole again after at least half of it was in use, the memory those bodies took is given back to
/// the operating system (an aggressive, compacting collection, at most once every 10 s): large bodies live on the large
/// object heap, which the GC otherwise keeps committed after a burst.
/// </summary>
internal sealed class BodyMemoryBudget(long capacity, TimeProvider time)
{
    private readonly Lock _gate = new();
    private readonly LinkedList<Waiter> _waiters = new();
    private readonly long _capacity = capacity;
    private long _available = capacity;
    private long _lowest = capacity;
    private long? _lastReturn;

    public long Available
    {
        get
        {
            lock (_gate)
            {
                return _available;
            }
        }
    }

    /// <summary>Reserves <paramref name="bytes"/> (at most the capacity); dispose the lease to give them back.</summary>
    public async ValueTask<IDisposable> ReserveAsync(long bytes, CancellationToken ct)
    {
        bytes = Math.Clamp(bytes, 0, _capacity);
        Waiter waiter;
        lock (_gate)
        {
            if (_waiters.Count == 0 && _available >= bytes)
            {
                _available -= bytes;
                _lowest = Math.Min(_lowest, _available);
                return new Lease(this, bytes);
            }

            waiter = new Waiter(bytes);
            waiter.Node = _waiters.AddLast(waiter);
        }

        await using (ct.Register(() => Cancel(waiter)))
        {
            await waiter.Granted.Task;
        }

        return new Lease(this, bytes);
    }

    private void Cancel(Waiter waiter)
    {
        lock (_gate)
        {
            if (waiter.Node?.List is null)
            {
                return; // already granted
            }

            _waiters.Remove(waiter.Node);
            GrantWaiting();
        }

        waiter.Granted.TrySetCanceled();
    }

    private void Release(long bytes)
    {
        bool returnMemory;
        lock (_gate)
        {
            _available += bytes;
            GrantWaiting();
            var now = time.GetTimestamp();
            returnMemory = _available == _capacity && _lowest <= _capacity / 2
                && (_lastReturn is not { } last || time.GetElapsedTime(last, now) >= TimeSpan.FromSeconds(10));
            if (returnMemory)
            {
                _lowest = _capacity;
                _lastReturn = now;
            }
        }

        if (returnMemory)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        }
    }

    // Under the lock: wakes waiters in order while the first one fits.
    private void GrantWaiting()
    {
        while (_waiters.First is { } first && _available >= first.Value.Bytes)
        {
            _available -= first.Value.Bytes;
            _lowest = Math.Min(_lowest, _available);
            _waiters.RemoveFirst();
            first.Value.Granted.TrySetResult();
        }
    }

    private sealed class Waiter(long bytes)
    {
        public long Bytes { get; } = bytes;

        public TaskCompletionSource Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public LinkedListNode<Waiter>? Node { get; set; }
    }

    private sealed class Lease(BodyMemoryBudget budget, long bytes) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                budget.Release(bytes);
            }
        }
    }
}
