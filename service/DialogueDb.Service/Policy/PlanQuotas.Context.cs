using DialogueDb.Service.Api;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace DialogueDb.Service.Policy;

/// <summary>
/// Counting inside an EF Core context's transaction (both engines): a write's count, the stored memories a delete gives
/// back, and the rebalancer's lock of all stripes of a counter.
/// </summary>
internal sealed partial class PlanQuotas
{
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
}
