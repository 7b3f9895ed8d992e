using System.Buffers;
using System.Numerics;

namespace DialogueDb.Service.Api;

/// <summary>
/// Caps the bytes that request bodies being buffered may hold at once (DIALOGUEDB_MAX_BUFFERED_BODY_BYTES): a request
/// reserves what its body will hold (<see cref="ParsedBodyBytes"/> of its Content-Length, or of the body limit when the
/// length is not announced) before reading it and gives it back when the parsed body is disposed. Reservations are all-or-nothing and first come, first served,
/// so concurrent large bodies wait their turn instead of growing the heap (or deadlocking on partial reservations).
/// When the budget is whole again after at least half of it was in use, the memory those bodies took is given back to
/// the operating system (at most once every 10 s, off the request path, by background collections that never stop
/// request threads): large bodies live on the large object heap, which the GC otherwise keeps until its next full
/// collection; and the shared array pool keeps the parsers' large arrays (see <see cref="ParsedBodyBytes"/>) until they
/// are taken out of it.
/// </summary>
/// <param name="largestBody">The body size limit (it bounds the parsers' arrays); the capacity when not given.</param>
internal sealed class BodyMemoryBudget(long capacity, TimeProvider time, long largestBody = 0)
{
    private readonly Lock _gate = new();
    private readonly LinkedList<Waiter> _waiters = new();
    private readonly long _capacity = capacity;
    private long _available = capacity;
    private long _lowest = capacity;
    private long? _lastReturn;
    private ITimer? _laterCollections;

    /// <summary>Arrays from this size up are the parsers' per-body arrays (smaller ones the pool may keep).</summary>
    private const int LargeArray = 8 * 1024 * 1024;

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

    /// <summary>
    /// The memory a body of <paramref name="length"/> bytes holds while it is handled: its buffer, and the metadata
    /// <see cref="System.Text.Json.JsonDocument"/> rents from the shared array pool for it — as many bytes as the body
    /// above 4 MiB, rounded up to the pool's next power of two (1 MiB between 1 and 4 MiB).
    /// </summary>
    public static long ParsedBodyBytes(long length)
    {
        const long OneMegabyte = 1024 * 1024;
        var metadata = length + 12 is > OneMegabyte and <= 4 * OneMegabyte ? OneMegabyte : length + 12;
        return length + (long)BitOperations.RoundUpToPowerOf2((ulong)Math.Max(metadata, 16));
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
            // The request whose body was the last to go does not wait for the pool trim and the collection.
            ThreadPool.UnsafeQueueUserWorkItem(static budget => budget.ReturnMemory(), this, preferLocal: false);
        }
    }

    /// <summary>
    /// Takes the large arrays the parsers gave back out of the shared array pool (renting them and letting them go) and
    /// collects. A rent that had to allocate shows the pool has no more of that size. Arrays a thread keeps for itself
    /// in the pool are dropped by the pool only at a full collection at least 30 s after an earlier one saw them, so
    /// there is another collection then, and one more a few seconds later for the arrays the pool dropped at it.
    /// </summary>
    private void ReturnMemory()
    {
        var body = largestBody > 0 ? largestBody : _capacity;
        var largest = (int)Math.Min(BitOperations.RoundUpToPowerOf2((ulong)ParsedBodyBytes(body) - (ulong)body), 1L << 30);
        for (var size = LargeArray; size <= largest; size *= 2)
        {
            while (true)
            {
                var before = GC.GetAllocatedBytesForCurrentThread();
                _ = ArrayPool<byte>.Shared.Rent(size);
                if (GC.GetAllocatedBytesForCurrentThread() - before >= size)
                {
                    break;
                }
            }
        }

        Collect();
        var laterCollections = 2;
        ITimer? timer = null;
        timer = time.CreateTimer(_ =>
        {
            Collect();
            if (--laterCollections == 0)
            {
                timer!.Dispose();
            }
        }, null, TimeSpan.FromSeconds(31), TimeSpan.FromSeconds(5));
        Interlocked.Exchange(ref _laterCollections, timer)?.Dispose();
    }

    /// <summary>A full background collection: it frees the large object heap while request threads keep running.</summary>
    private static void Collect() => GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: false);

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
