using System.Globalization;
using DialogueDb.Service.Api;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Policy;

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
internal sealed partial class PlanQuotas(ProjectPolicy project, RequestUsage requests, TimeProvider time)
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

    private int _nextStripe = Random.Shared.Next(Stripes);

    /// <summary>
    /// The stripe this process's next write tries first: its writes take the stripes in turn (replicas start at random
    /// places), so concurrent writers rarely meet on one and the pick costs no sort.
    /// </summary>
    public int NextStripe() => (int)((uint)Interlocked.Increment(ref _nextStripe) % Stripes);

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

    /// <summary>Creates the missing stripes of counter ({0} = period, {1} = kind); a concurrent creator wins harmlessly.</summary>
    private static readonly string InsertStripes =
        "INSERT INTO quota_stripes (period, kind, stripe, used, allowance, cap) VALUES " +
        string.Join(", ", Enumerable.Range(0, Stripes).Select(i => string.Create(CultureInfo.InvariantCulture, $"({{0}}, {{1}}, {i}, 0, 0, 0)"))) +
        " ON CONFLICT DO NOTHING";

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
