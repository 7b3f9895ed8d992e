using DialogueDb.Service.Api;
using DialogueDb.Service.Storage;
using Npgsql;

namespace DialogueDb.Service.Policy;

/// <summary>
/// Counting on PostgreSQL on a raw connection, for the writers that batch their own statements (the message append):
/// the one-statement fast path as a CTE of the writer's statement, and the locked path when it failed.
/// </summary>
internal sealed partial class PlanQuotas
{
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
}
