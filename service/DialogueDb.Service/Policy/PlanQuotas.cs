using System.Globalization;
using DialogueDb.Service.Api;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

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
/// database, in the same transaction as the write they count: a conditional increment (<c>used + n &lt;= limit</c>) on
/// the project's usage row, so N concurrent writers at the boundary — on any number of instances — get exactly the
/// quota, a rolled-back write consumes nothing, and the count survives any restart (Redis holds none of it).
/// Unlimited kinds are not counted. API requests are counted separately (<see cref="RequestUsage"/>).
/// </summary>
internal sealed class PlanQuotas(ProjectPolicy project, RequestUsage requests, TimeProvider time)
{
    public const string StoredPeriod = "stored";

    /// <summary>
    /// Blocks the write when the monthly API-requests quota is used up (every request counts; reads keep working).
    /// </summary>
    public ApiError? CheckRequests()
    {
        var limit = project.Effective.RequestsPerMonth;
        var used = requests.Used;
        return limit is { } max && used > max ? Exceeded(QuotaKind.Requests, max, used, MonthOf(time)) : null;
    }

    /// <summary>Counts <paramref name="count"/> new items inside the caller's transaction; an error means over the quota.</summary>
    public async Task<ApiError?> ConsumeAsync(DialogueDbContext db, QuotaKind kind, long count, CancellationToken ct)
    {
        var effective = project.Effective;
        var limit = kind switch
        {
            QuotaKind.Dialogues => effective.DialoguesPerMonth,
            QuotaKind.Messages => effective.MessagesPerMonth,
            QuotaKind.Memories => effective.MemoriesStored,
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        if (CheckRequests() is { } requestsExceeded)
        {
            return requestsExceeded;
        }

        if (count == 0 || limit is not { } max)
        {
            return null;
        }

        var period = kind == QuotaKind.Memories ? StoredPeriod : MonthOf(time);
        var name = Name(kind);
        for (var attempt = 0; attempt < 2; attempt++)
        {
            var counted = await db.PlanUsage.Where(u => u.Period == period && u.Kind == name && u.Used + count <= max)
                .ExecuteUpdateAsync(s => s.SetProperty(u => u.Used, u => u.Used + count), ct);
            if (counted == 1)
            {
                return null;
            }

            var used = await db.PlanUsage.Where(u => u.Period == period && u.Kind == name).Select(u => (long?)u.Used).FirstOrDefaultAsync(ct);
            if (used is not null)
            {
                return Exceeded(kind, max, used.Value, period);
            }

            // First write of the period: create the row (a concurrent creator wins harmlessly), then count again.
            await db.Database.ExecuteSqlAsync(
                $"INSERT INTO plan_usage (period, kind, used) VALUES ({period}, {name}, 0) ON CONFLICT DO NOTHING", ct);
        }

        return Exceeded(kind, max, count, period);
    }

    /// <summary>Stored memories that were deleted no longer count (monthly kinds are never given back).</summary>
    public static Task ReleaseStoredMemoriesAsync(DialogueDbContext db, long count, CancellationToken ct) =>
        db.PlanUsage.Where(u => u.Period == StoredPeriod && u.Kind == "memories" && u.Used > 0)
            .ExecuteUpdateAsync(s => s.SetProperty(u => u.Used, u => u.Used >= count ? u.Used - count : 0), ct);

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
