using System.Globalization;
using DialogueDb.Service.Api;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace DialogueDb.Service.Policy;

internal enum QuotaKind
{
    Dialogues,
    Messages,
    Memories,
    Requests,
}

/// <summary>
/// Contract §7 plan quotas. Dialogues, messages (per UTC calendar month) and stored memories are counted in the
/// database, in the same transaction as the write they count, so N concurrent writers at the boundary — on any number
/// of instances — get exactly the quota, a rolled-back write consumes nothing, and the count survives any restart
/// (Redis holds none of it). Unlimited kinds are not counted. API requests are counted separately
/// (<see cref="RequestUsage"/>).
/// <para>
/// A counter is <see cref="Stripes"/> rows. Each stripe may count up to its allowance, and the allowances add up to
/// the limit, so the sum can never pass it. A write counts on a stripe with room that no other writer holds, with a
/// conditional increment (<c>used + n &lt;= allowance</c>), and holds only that row's lock until its commit; with one row, every write of the
/// project waited for the previous one's commit (measured: about 99% of an append's database time, and no group
/// commit). When the stripe has no room, or the limit changed, the writer locks all stripes in order, checks the true
/// total against the limit, and shares out what is left again, so a write is refused only when the project's whole
/// remaining quota is smaller than it.
/// </para>
/// </summary>
internal sealed class PlanQuotas(ProjectPolicy project, RequestUsage requests, TimeProvider time)
{
    public const string StoredPeriod = "stored";

    /// <summary>Rows per counter: enough for the writers of one project to rarely meet on a row.</summary>
    public const int Stripes = 16;

    /// <summary>
    /// Blocks the write when the monthly API-requests quota is used up (every request counts; reads keep working).
    /// </summary>
    public ApiError? CheckRequests()
    {
        var limit = project.Effective.RequestsPerMonth;
        var used = requests.Used;
        return limit is { } max && used > max ? Exceeded(QuotaKind.Requests, max, used, MonthOf(time)) : null;
    }

    /// <summary>The plan's limit of <paramref name="kind"/> now; null = unlimited (not counted at all).</summary>
    public long? LimitOf(QuotaKind kind)
    {
        var effective = project.Effective;
        return kind switch
        {
            QuotaKind.Dialogues => effective.DialoguesPerMonth,
            QuotaKind.Messages => effective.MessagesPerMonth,
            QuotaKind.Memories => effective.MemoriesStored,
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
    }

    /// <summary>The counter period of <paramref name="kind"/> now: the UTC month, or "stored" for memories.</summary>
    public string PeriodOf(QuotaKind kind) => kind == QuotaKind.Memories ? StoredPeriod : MonthOf(time);

    /// <summary>
    /// A writable CTE named <paramref name="name"/> for a one-statement write (PostgreSQL): the fast path of
    /// <see cref="ConsumeAsync"/>. It counts on the <paramref name="preferred"/> stripe when that one has room and no
    /// other writer holds it (one primary-key lookup), else on any stripe that does (the ordered pick, evaluated only
    /// then); it yields one row (<c>taken</c> = 0) when a stripe took the count, and no row otherwise; the caller makes
    /// "no row" abort its statement. It never waits for a stripe. Placeholders: the count, period, kind, limit and stripe.
    /// </summary>
    public static string TakeStripeCte(string name, string count, string period, string kind, string cap, string preferred) => $"""
        {name} AS (
            UPDATE quota_stripes SET used = used + {count}
            WHERE period = {period} AND kind = {kind} AND stripe = COALESCE(
                (SELECT stripe FROM quota_stripes
                 WHERE period = {period} AND kind = {kind} AND stripe = {preferred} AND cap = {cap} AND used + {count} <= allowance
                 FOR UPDATE SKIP LOCKED),
                (SELECT stripe FROM quota_stripes
                 WHERE period = {period} AND kind = {kind} AND cap = {cap} AND used + {count} <= allowance
                 ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED))
            RETURNING 0 AS taken)
        """;

    private int _nextStripe = Random.Shared.Next(Stripes);

    /// <summary>
    /// The stripe this process's next write tries first: its writes take the stripes in turn (replicas start at random
    /// places), so concurrent writers rarely meet on one and the pick costs no sort.
    /// </summary>
    public int NextStripe() => (int)((uint)Interlocked.Increment(ref _nextStripe) % Stripes);

    /// <summary>
    /// The locked path of <see cref="ConsumeAsync"/> on a raw connection (PostgreSQL), for a writer whose one-statement
    /// fast path failed: inside <paramref name="transaction"/>, before the writer locks anything else, it counts on a free
    /// stripe with room; failing that, it waits for any rebalancer (advisory lock) and tries again; failing that, it
    /// locks every stripe of the counter, checks the true total and counts on one stripe while sharing out what is left.
    /// No writer waits for a stripe while it holds a dialogue's lock, so this order cannot deadlock with appends.
    /// </summary>
    public async Task<ApiError?> ConsumeLockedAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, QuotaKind kind,
        long count, CancellationToken ct)
    {
        if (CheckRequests() is { } requestsExceeded)
        {
            return requestsExceeded;
        }

        if (count == 0 || LimitOf(kind) is not { } max)
        {
            return null;
        }

        var period = PeriodOf(kind);
        var name = Name(kind);

        // A free stripe with room first (the common reason to be here is not the quota but, say, a newer message); then
        // wait for any rebalancer to finish and look again; only when still none has room, lock them all and rebalance.
        // (Locking all stripes whenever a writer took this path made every concurrent writer's fast path fail and queue
        // behind it: measured, 563 of 800 appends ended up here, 558 ms each on the advisory lock.)
        if (await TakeFreeStripeAsync(connection, transaction, period, name, count, max, NextStripe(), inSavepoint: true, ct))
        {
            return null;
        }

        await using (var prepare = new NpgsqlBatch(connection, transaction))
        {
            prepare.BatchCommands.Add(NamespaceBatches.Command(ReleaseSkippedStripes));
            prepare.BatchCommands.Add(NamespaceBatches.Command("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                NamespaceBatches.Value($"quota:{period}:{name}")));
            prepare.BatchCommands.Add(NamespaceBatches.Command(
                InsertStripes.Replace("{0}", "$1", StringComparison.Ordinal).Replace("{1}", "$2", StringComparison.Ordinal),
                NamespaceBatches.Value(period), NamespaceBatches.Value(name)));
            await prepare.ExecuteNonQueryAsync(ct);
        }

        // Holding the rebalancer's lock: a stripe this leaves locked is one this writer locks anyway next.
        if (await TakeFreeStripeAsync(connection, transaction, period, name, count, max, NextStripe(), inSavepoint: false, ct))
        {
            return null;
        }

        var stripes = new List<QuotaStripeRow>(Stripes);
        await using (var select = new NpgsqlCommand(
            "SELECT stripe, used, allowance, cap FROM quota_stripes WHERE period = $1 AND kind = $2 ORDER BY stripe FOR UPDATE",
            connection, transaction))
        {
            select.Parameters.Add(new NpgsqlParameter<string> { TypedValue = period });
            select.Parameters.Add(new NpgsqlParameter<string> { TypedValue = name });
            await using var reader = await select.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                stripes.Add(new QuotaStripeRow
                {
                    Period = period, Kind = name, Stripe = reader.GetInt32(0), Used = reader.GetInt64(1),
                    Allowance = reader.GetInt64(2), Cap = reader.GetInt64(3),
                });
            }
        }

        var used = stripes.Sum(s => s.Used);
        if (used + count > max)
        {
            return Exceeded(kind, max, used, period);
        }

        ShareOut(stripes, Random.Shared.Next(Stripes), count, max, used);
        await using var update = new NpgsqlCommand("""
            UPDATE quota_stripes AS q SET used = s.used, allowance = s.allowance, cap = $3
            FROM unnest($4::int[], $5::bigint[], $6::bigint[]) AS s(stripe, used, allowance)
            WHERE q.period = $1 AND q.kind = $2 AND q.stripe = s.stripe
            """, connection, transaction);
        update.Parameters.Add(new NpgsqlParameter<string> { TypedValue = period });
        update.Parameters.Add(new NpgsqlParameter<string> { TypedValue = name });
        update.Parameters.Add(new NpgsqlParameter<long> { TypedValue = max });
        update.Parameters.Add(new NpgsqlParameter<int[]> { TypedValue = [.. stripes.Select(s => s.Stripe)] });
        update.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. stripes.Select(s => s.Used)] });
        update.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. stripes.Select(s => s.Allowance)] });
        await update.ExecuteNonQueryAsync(ct);
        return null;
    }

    private const string FastPathSavepoint = "quota_fast_path";

    /// <summary>
    /// Undoes a failed fast path (<see cref="TakeFreeStripeAsync"/> with a savepoint), with the row lock it may have kept.
    /// </summary>
    private const string ReleaseSkippedStripes = "ROLLBACK TO SAVEPOINT " + FastPathSavepoint;

    /// <summary>
    /// The fast path's conditional increment on any free stripe with room, inside <paramref name="transaction"/>. Its
    /// <c>FOR UPDATE SKIP LOCKED</c> keeps the lock of a row it re-checked and skipped (one a rebalancer had just changed),
    /// so a writer that failed it and then waited for the rebalancer's lock held a row the rebalancer waited for: a
    /// deadlock (seen: 40P01 among concurrent dialogue creations at the quota). With <paramref name="inSavepoint"/> it runs
    /// after a savepoint (same round trip), and the caller rolls back to it (<see cref="ReleaseSkippedStripes"/>) when it
    /// failed, which releases that lock, before it waits for anything.
    /// </summary>
    private static async Task<bool> TakeFreeStripeAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string period,
        string name, long count, long max, int stripe, bool inSavepoint, CancellationToken ct)
    {
        await using var batch = new NpgsqlBatch(connection, transaction);
        if (inSavepoint)
        {
            batch.BatchCommands.Add(NamespaceBatches.Command("SAVEPOINT " + FastPathSavepoint));
        }

        batch.BatchCommands.Add(NamespaceBatches.Command(
            $"WITH {TakeStripeCte("taken", "$1", "$2", "$3", "$4", "$5")} SELECT count(*) FROM taken", NamespaceBatches.Value(count),
            NamespaceBatches.Value(period), NamespaceBatches.Value(name), NamespaceBatches.Value(max), NamespaceBatches.Value(stripe)));
        await using var reader = await batch.ExecuteReaderAsync(ct);
        while (reader.FieldCount == 0)
        {
            await reader.NextResultAsync(ct);
        }

        await reader.ReadAsync(ct);
        return reader.GetInt64(0) == 1;
    }

    /// <summary>Counts <paramref name="count"/> new items inside the caller's transaction; an error means over the quota.</summary>
    public async Task<ApiError?> ConsumeAsync(DialogueDbContext db, QuotaKind kind, long count, CancellationToken ct)
    {
        if (CheckRequests() is { } requestsExceeded)
        {
            return requestsExceeded;
        }

        if (count == 0 || LimitOf(kind) is not { } max)
        {
            return null;
        }

        var period = PeriodOf(kind);
        var name = Name(kind);
        var stripe = NextStripe();
        var counted = db.Database.IsNpgsql()
            // Any stripe with room that no other writer holds: the fast path never waits, so it never holds a row lock
            // it did not use (a waiting UPDATE keeps the lock of a row it re-checked and skipped) and never closes a
            // cycle with a rebalancer. The same statement as the one-round-trip append's, on the context's transaction.
            ? await TakeFreeStripeAsync((NpgsqlConnection)db.Database.GetDbConnection(),
                (NpgsqlTransaction)db.Database.CurrentTransaction!.GetDbTransaction(), period, name, count, max, stripe, inSavepoint: true, ct)
                ? 1
                : 0
            : await db.QuotaStripes
                .Where(s => s.Period == period && s.Kind == name && s.Stripe == stripe && s.Cap == max && s.Used + count <= s.Allowance)
                .ExecuteUpdateAsync(s => s.SetProperty(u => u.Used, u => u.Used + count), ct);
        if (counted == 1)
        {
            return null;
        }

        if (db.Database.IsNpgsql())
        {
            await db.Database.ExecuteSqlRawAsync(ReleaseSkippedStripes, ct);
        }

        var stripes = await LockStripesAsync(db, period, name, ct);
        var used = stripes.Sum(s => s.Used);
        if (used + count > max)
        {
            return Exceeded(kind, max, used, period);
        }

        ShareOut(stripes, stripe, count, max, used);
        await db.SaveChangesAsync(ct);
        return null;
    }

    /// <summary>Counts <paramref name="count"/> on <paramref name="stripe"/> and shares out the rest of the limit.</summary>
    private static void ShareOut(List<QuotaStripeRow> stripes, int stripe, long count, long max, long used)
    {
        var remaining = max - used - count;
        foreach (var row in stripes)
        {
            if (row.Stripe == stripe)
            {
                row.Used += count;
            }

            row.Allowance = row.Used + remaining / Stripes + (row.Stripe == stripe ? remaining % Stripes : 0);
            row.Cap = max;
        }
    }

    /// <summary>
    /// For writes that are not counted themselves but may not happen over the plan (summaries): an error when the
    /// monthly API requests or <paramref name="kind"/> are used up. Reads the counter without locking it.
    /// </summary>
    public async Task<ApiError?> CheckUsedUpAsync(DialogueDbContext db, QuotaKind kind, CancellationToken ct)
    {
        if (CheckRequests() is { } requestsExceeded)
        {
            return requestsExceeded;
        }

        if (LimitOf(kind) is not { } max)
        {
            return null;
        }

        var period = PeriodOf(kind);
        var name = Name(kind);
        var used = await db.QuotaStripes.Where(s => s.Period == period && s.Kind == name).SumAsync(s => s.Used, ct);
        return used >= max ? Exceeded(kind, max, used, period) : null;
    }

    /// <summary>Stored memories that were deleted no longer count (monthly kinds are never given back).</summary>
    public static async Task ReleaseStoredMemoriesAsync(DialogueDbContext db, long count, CancellationToken ct)
    {
        // Taking the count off stripes leaves their allowances as they were: the freed room stays in the counter.
        var left = count;
        foreach (var row in await LockStripesAsync(db, StoredPeriod, Name(QuotaKind.Memories), ct))
        {
            var taken = Math.Min(left, row.Used);
            row.Used -= taken;
            left -= taken;
        }

        await db.SaveChangesAsync(ct);
    }

    /// <summary>Creates the missing stripes of counter ({0} = period, {1} = kind); a concurrent creator wins harmlessly.</summary>
    private static readonly string InsertStripes =
        "INSERT INTO quota_stripes (period, kind, stripe, used, allowance, cap) VALUES " +
        string.Join(", ", Enumerable.Range(0, Stripes).Select(i => string.Create(CultureInfo.InvariantCulture, $"({{0}}, {{1}}, {i}, 0, 0, 0)"))) +
        " ON CONFLICT DO NOTHING";

    /// <summary>Stripes of one counter, created if missing, locked in stripe order (a fixed order: no deadlock between rebalancers).</summary>
    private static async Task<List<QuotaStripeRow>> LockStripesAsync(DialogueDbContext db, string period, string name, CancellationToken ct)
    {
        if (!db.Database.IsNpgsql())
        {
            // SQLite has one writer at a time: the write transaction already excludes every other.
            await db.Database.ExecuteSqlRawAsync(InsertStripes, [period, name], ct);
            return await db.QuotaStripes.Where(s => s.Period == period && s.Kind == name).OrderBy(s => s.Stripe).AsTracking().ToListAsync(ct);
        }

        // One rebalancer per counter at a time (a transaction advisory lock): row locks taken by several
        // `ORDER BY … FOR UPDATE` scans while rows are being updated can still form a cycle (seen as deadlocks).
        // Writers on the fast path hold one stripe and wait for nothing after it, so they never close a cycle; one whose
        // fast path failed gives back the stripe it may have kept locked first (see TakeFreeStripeAsync).
        var counter = $"quota:{period}:{name}";
        await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock(hashtextextended({counter}, 0))", ct);
        await db.Database.ExecuteSqlRawAsync(InsertStripes, [period, name], ct);
        return await db.QuotaStripes
            .FromSql($"SELECT * FROM quota_stripes WHERE period = {period} AND kind = {name} ORDER BY stripe FOR UPDATE")
            .AsTracking().ToListAsync(ct);
    }

    public static string MonthOf(TimeProvider time) => time.GetUtcNow().ToString("yyyy-MM", CultureInfo.InvariantCulture);

    public static string Name(QuotaKind kind) => kind.ToString().ToLowerInvariant();

    private ApiError Exceeded(QuotaKind kind, long limit, long used, string period)
    {
        var name = Name(kind);
        var title = kind switch
        {
            QuotaKind.Memories => "Stored memories limit exceeded",
            QuotaKind.Requests => "API requests monthly limit exceeded",
            _ => $"{char.ToUpperInvariant(name[0])}{name[1..]} monthly limit exceeded",
        };
        var noun = kind == QuotaKind.Requests ? "API requests" : name;
        var message = $"{title}. Your plan allows {limit.ToString("N0", CultureInfo.InvariantCulture)} {noun}. " +
            "Please upgrade your plan to continue.";
        var now = time.GetUtcNow();
        var nextMonth = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero).AddMonths(1);
        return new ApiError(429, "PLAN_LIMIT_EXCEEDED", "rate_limit", message,
            [new FieldError(name, "PLAN_LIMIT_EXCEEDED", message) { Limit = limit, Used = used, Period = period }])
        {
            // Stored memories free up on deletion; monthly quotas reset at the start of the next UTC month.
            RetryAfterSeconds = kind == QuotaKind.Memories ? null : (int)Math.Ceiling((nextMonth - now).TotalSeconds),
        };
    }
}
