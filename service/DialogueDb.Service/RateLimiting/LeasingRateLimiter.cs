using StackExchange.Redis;

namespace DialogueDb.Service.RateLimiting;

/// <summary>
/// Takes a slice of the per-second allowance from the shared (Redis) limiter in one round trip and hands it out in this
/// process, so a busy replica asks Redis once per slice instead of once per request. Exact in total: a slice is counted
/// in Redis before any of it is used, so all replicas together never admit more than the limit; a slice not used within
/// <see cref="SliceLifetime"/> is dropped (a replica can at most refuse slightly early, never admit late). A slice is
/// sized to what this replica took per second from the one before, for <see cref="LeaseHorizon"/> (at most a hundredth
/// of the rate, at most <see cref="MaxSlice"/>): a quiet replica leases one request at a time, the exact per-request
/// check, instead of dropping most of every slice (with many quiet replicas that waste alone would fill the window, and
/// every request would then cost two round trips: a refused slice, then its own check). At the boundary (a slice
/// refused) it falls back to single requests, and a refused request is answered locally until a slice could have
/// refilled.
/// <para>
/// One lease per key is in flight at a time: the requests that find the slice used up while another request is already
/// leasing the next one wait for that lease instead of each asking Redis (and each overwriting the others' slices); and
/// the next slice is leased while a quarter of the current one is left, so under steady load nobody waits for Redis.
/// </para>
/// </summary>
internal sealed partial class LeasingRateLimiter(IRateLimiter shared, TimeProvider time, ILogger<LeasingRateLimiter> logger) : IRateLimiter
{
    /// <summary>How long a leased slice may be used: well inside the one-second window the limit is defined over.</summary>
    public static readonly TimeSpan SliceLifetime = TimeSpan.FromMilliseconds(100);

    /// <summary>A slice is at most a hundredth of the per-second rate, and at most this many requests.</summary>
    public const int MaxSlice = 1_000;

    /// <summary>How much of this replica's recent demand a slice covers: half its lifetime, so a steady load uses it up in time.</summary>
    public static readonly TimeSpan LeaseHorizon = TimeSpan.FromMilliseconds(50);

    /// <summary>Smaller slices are not leased ahead: a replica this quiet asks when it needs to, as per-request checks do.</summary>
    private const int MinPrefetchedSlice = 4;

    /// <summary>How many leases a request waits for before it leases for itself (each lease may be used up by others).</summary>
    private const int MaxWaits = 3;

    private readonly Dictionary<string, KeyState> _keys = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>The largest slice at this rate; at or below the cost of a request, every request is checked on its own.</summary>
    public static int SliceOf(long ratePerSecond) => (int)Math.Clamp(ratePerSecond / 100, 1, MaxSlice);

    /// <summary>
    /// Whether a check at this rate and cost goes by slices (of at most <paramref name="size"/>); if not, every one is the
    /// shared limiter's to answer (cost 0 only reports; a slice no larger than the cost saves nothing).
    /// </summary>
    private static bool Sliced(long ratePerSecond, int cost, out int size)
    {
        size = SliceOf(ratePerSecond);
        return cost > 0 && size > cost;
    }

    /// <summary>From the slice this process holds (or a refusal it keeps), without waiting; false when Redis must be asked.</summary>
    public bool TryAcquireNow(string key, long ratePerSecond, int cost, out RateDecision decision)
    {
        decision = default;
        if (!Sliced(ratePerSecond, cost, out var size))
        {
            return false;
        }

        var now = time.GetUtcNow();
        KeyState? state;
        TaskCompletionSource? lease;
        int next;
        lock (_lock)
        {
            if (!_keys.TryGetValue(key, out state) || !Take(state, ratePerSecond, cost, size, now, out decision, out lease, out next))
            {
                return false;
            }
        }

        StartPrefetch(state, key, ratePerSecond, next, now, lease);
        return true;
    }

    public async ValueTask<RateDecision> AcquireAsync(string key, long ratePerSecond, int cost, CancellationToken ct)
    {
        if (!Sliced(ratePerSecond, cost, out var size))
        {
            return await shared.AcquireAsync(key, ratePerSecond, cost, ct);
        }

        for (var waits = 0; ; waits++)
        {
            var now = time.GetUtcNow();
            KeyState state;
            Task? inFlight = null;
            TaskCompletionSource? lease = null;
            RateDecision? taken = null;
            int leaseSize;
            lock (_lock)
            {
                if (!_keys.TryGetValue(key, out state!))
                {
                    _keys[key] = state = new KeyState();
                }

                if (Take(state, ratePerSecond, cost, size, now, out var decision, out lease, out leaseSize))
                {
                    taken = decision;
                }
                else if (!state.PerRequest(ratePerSecond, now))
                {
                    if (state.Leasing is { } pending && waits < MaxWaits)
                    {
                        inFlight = pending.Task;
                    }
                    else
                    {
                        lease = state.Leasing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                        leaseSize = Math.Max(cost, state.NextSize(ratePerSecond, size, now));
                    }
                }
            }

            if (taken is { } answer)
            {
                StartPrefetch(state, key, ratePerSecond, leaseSize, now, lease);
                return answer;
            }

            if (inFlight is not null)
            {
                await inFlight.WaitAsync(ct);
                continue;
            }

            if (lease is null)
            {
                return await SingleAsync(state, key, ratePerSecond, cost, size, now, ct);
            }

            try
            {
                return await LeaseAsync(state, key, ratePerSecond, cost, leaseSize, now, ct);
            }
            finally
            {
                EndLease(state, lease);
            }
        }
    }

    /// <summary>
    /// Under the lock: takes <paramref name="cost"/> from the held slice (or answers the held refusal) and, when that left the
    /// slice in its last quarter, claims the lease of the next one (<paramref name="prefetch"/> of <paramref name="nextSize"/>,
    /// for <see cref="StartPrefetch"/>).
    /// </summary>
    private static bool Take(KeyState state, long rate, int cost, int maxSize, DateTimeOffset now, out RateDecision decision,
        out TaskCompletionSource? prefetch, out int nextSize)
    {
        prefetch = null;
        nextSize = maxSize;
        if (!state.TryTake(rate, cost, now, out decision))
        {
            return false;
        }

        if (state.NeedsNext())
        {
            prefetch = state.Leasing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            nextSize = state.NextSize(rate, maxSize, now);
        }

        return true;
    }

    private void StartPrefetch(KeyState state, string key, long rate, int size, DateTimeOffset now, TaskCompletionSource? lease)
    {
        if (lease is not null)
        {
            _ = PrefetchAsync(state, key, rate, size, now, lease);
        }
    }

    private async ValueTask<RateDecision> LeaseAsync(KeyState state, string key, long rate, int cost, int size, DateTimeOffset now,
        CancellationToken ct)
    {
        var leased = await shared.AcquireAsync(key, rate, size, ct);
        if (leased.Allowed)
        {
            lock (_lock)
            {
                state.Current = new Slice(rate, now + SliceLifetime, leased, size) { Left = size - cost, StartedAt = now };
            }

            return leased with { Remaining = leased.Remaining + size - cost };
        }

        // Less than a slice left in this window: one request at a time, exactly as without slices, until a slice could
        // have refilled.
        lock (_lock)
        {
            state.PerRequestRate = rate;
            state.PerRequestUntil = now + Refill(size, rate);
        }

        return await SingleAsync(state, key, rate, cost, size, now, ct);
    }

    /// <summary>
    /// Leases the next slice while the current one still has a quarter left, so the requests that use it up find the
    /// next one ready instead of all waiting on Redis. A Redis failure is left to the next request that needs a slice (it
    /// leases itself and meets the breaker); a refusal switches to per-request checks as a refused lease does. Nobody
    /// awaits this task, so an unexpected failure (a defect) is logged here, by its type only, and never escapes; either
    /// way the lease ends and its waiters go on.
    /// </summary>
    private async Task PrefetchAsync(KeyState state, string key, long rate, int size, DateTimeOffset now, TaskCompletionSource lease)
    {
        try
        {
            var leased = await shared.AcquireAsync(key, rate, size, CancellationToken.None);
            lock (_lock)
            {
                if (leased.Allowed)
                {
                    state.Next = new Slice(rate, now + SliceLifetime, leased, size) { Left = size };
                }
                else
                {
                    state.PerRequestRate = rate;
                    state.PerRequestUntil = now + Refill(size, rate);
                }
            }
        }
        catch (Exception ex) when (IsSharedLimiterFailure(ex))
        {
            // Nothing leased: nothing to keep.
        }
        catch (Exception ex)
        {
            LogPrefetchFailed(logger, ex.GetType().Name);
        }
        finally
        {
            EndLease(state, lease);
        }
    }

    /// <summary>The lease is over (stored, refused or failed): the waiters go on and look again.</summary>
    private void EndLease(KeyState state, TaskCompletionSource lease)
    {
        lock (_lock)
        {
            if (state.Leasing == lease)
            {
                state.Leasing = null;
            }
        }

        lease.TrySetResult();
    }

    private async ValueTask<RateDecision> SingleAsync(KeyState state, string key, long rate, int cost, int size, DateTimeOffset now,
        CancellationToken ct)
    {
        var single = await shared.AcquireAsync(key, rate, cost, ct);
        if (!single.Allowed)
        {
            // Kept for the time one slice takes to refill, so an overloaded replica does not ask once per refused request.
            lock (_lock)
            {
                state.Current = new Slice(rate, now + Refill(size, rate), single, 0);
            }
        }

        return single;
    }

    /// <summary>What the shared limiter throws when Redis is unreachable or slow (the breaker's failures), or at shutdown.</summary>
    private static bool IsSharedLimiterFailure(Exception ex) => ex is RedisException or TimeoutException or OperationCanceledException;

    // The type only: an exception's message can quote the key, which names the project.
    [LoggerMessage(Level = LogLevel.Error,
        Message = "Leasing the next rate-limit slice failed unexpectedly ({ExceptionType}); the next request leases for itself")]
    private static partial void LogPrefetchFailed(ILogger logger, string exceptionType);

    private static TimeSpan Refill(int size, long rate) => TimeSpan.FromSeconds((double)size / rate);

    /// <summary>One key's slice and lease state; read and written under the limiter's lock.</summary>
    private sealed class KeyState
    {
        public Slice? Current { get; set; }

        /// <summary>A slice leased ahead (<see cref="PrefetchAsync"/>), used when <see cref="Current"/> is spent.</summary>
        public Slice? Next { get; set; }

        /// <summary>Completed when the lease in flight (if any) has stored its slice or failed.</summary>
        public TaskCompletionSource? Leasing { get; set; }

        public long PerRequestRate { get; set; }

        public DateTimeOffset PerRequestUntil { get; set; }

        /// <summary>
        /// The current slice (one worth leasing ahead) is down to its last quarter and nothing is leased or being leased
        /// after it.
        /// </summary>
        public bool NeedsNext() => Leasing is null && Next is null
            && Current is { Decision.Allowed: true } slice && slice.Size >= MinPrefetchedSlice && slice.Left < slice.Size / 4;

        /// <summary>
        /// The next lease's size: the rate at which this replica took from the current slice since it began, over
        /// <see cref="LeaseHorizon"/>, between 1 and <paramref name="maxSize"/>; the largest before anything was taken at this
        /// rate (the first lease, or after a refusal or a change of plan).
        /// </summary>
        public int NextSize(long rate, int maxSize, DateTimeOffset now)
        {
            if (Current is not { Decision.Allowed: true } slice || slice.Rate != rate)
            {
                return maxSize;
            }

            var taken = slice.Size - slice.Left;
            var seconds = Math.Max((now - slice.StartedAt).TotalSeconds, 0.001);
            return (int)Math.Clamp(Math.Ceiling(taken / seconds * LeaseHorizon.TotalSeconds), 1, maxSize);
        }

        private static bool Live(Slice? slice, long rate, DateTimeOffset now) => slice is not null && slice.Rate == rate && slice.ExpiresAt > now;

        public bool PerRequest(long rate, DateTimeOffset now) => PerRequestRate == rate && PerRequestUntil > now;

        /// <summary>Takes <paramref name="cost"/> from a live slice, or answers a live refusal.</summary>
        public bool TryTake(long rate, int cost, DateTimeOffset now, out RateDecision decision)
        {
            decision = default;
            if (!Live(Current, rate, now) || (Current!.Decision.Allowed && Current.Left < cost))
            {
                if (!Live(Next, rate, now))
                {
                    return false;
                }

                Current = Next;
                Current!.StartedAt = now;
                Next = null;
            }

            var slice = Current!;

            if (!slice.Decision.Allowed)
            {
                decision = slice.Decision;
                return true;
            }

            if (slice.Left < cost)
            {
                return false;
            }

            slice.Left -= cost;
            decision = slice.Decision with { Remaining = Math.Max(0, slice.Decision.Remaining + slice.Left) };
            return true;
        }
    }

    private sealed class Slice(long rate, DateTimeOffset expiresAt, RateDecision decision, int size)
    {
        public long Rate { get; } = rate;

        /// <summary>How many requests were leased (0 for a held refusal).</summary>
        public int Size { get; } = size;

        /// <summary>When this process began to take from it (its demand since then sizes the next lease).</summary>
        public DateTimeOffset StartedAt { get; set; }

        public DateTimeOffset ExpiresAt { get; } = expiresAt;

        public RateDecision Decision { get; } = decision;

        public int Left { get; set; }
    }
}
