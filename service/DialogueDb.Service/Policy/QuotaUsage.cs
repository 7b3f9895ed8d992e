using System.Diagnostics.Metrics;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Policy;

/// <summary>
/// Plan usage of the limited kinds as the quota counters hold it: this month's dialogues and messages and the stored
/// memories, read from the database at most once a <see cref="RefreshInterval"/> (one grouped query over the quota
/// stripes, never on a request), and this month's API requests as <see cref="RequestUsage"/> counts them. Exported as
/// the <c>dialoguedb.quota.used</c>/<c>dialoguedb.quota.limit</c> gauges and, on a server with Redis, published for
/// the operator's <c>status.usage</c> (<see cref="UsagePublisher"/>). Counts only: no content, no namespace.
/// </summary>
internal sealed partial class QuotaUsage : BackgroundService
{
    private readonly IServiceScopeFactory scopes;
    private readonly ProjectPolicy project;
    private readonly RequestUsage requests;
    private readonly TimeProvider time;
    private readonly ILogger<QuotaUsage> logger;
    private readonly UsagePublisher? publisher;

    public QuotaUsage(IServiceScopeFactory scopes, ProjectPolicy project, RequestUsage requests, TimeProvider time, IMeterFactory meters,
        ILogger<QuotaUsage> logger, UsagePublisher? publisher = null)
    {
        this.publisher = publisher;
        this.scopes = scopes;
        this.project = project;
        this.requests = requests;
        this.time = time;
        this.logger = logger;
        var meter = meters.Create(Telemetry.ServiceMetrics.MeterName);
        meter.CreateObservableGauge("dialoguedb.quota.used", ObserveUsed, "{item}",
            "Plan usage by kind: this month's dialogues, messages and API requests, stored memories (limited kinds only)");
        meter.CreateObservableGauge("dialoguedb.quota.limit", ObserveLimits, "{item}", "The plan's limit by kind (limited kinds only)");
    }

    public static readonly TimeSpan RefreshInterval = TimeSpan.FromMinutes(1);

    private static readonly QuotaKind[] StoredKinds = [QuotaKind.Dialogues, QuotaKind.Messages, QuotaKind.Memories];
    private volatile IReadOnlyDictionary<QuotaKind, long> _stored = new Dictionary<QuotaKind, long>();

    /// <summary>Used of <paramref name="kind"/> as of the last refresh (requests: now).</summary>
    public long Used(QuotaKind kind) => kind == QuotaKind.Requests ? requests.Used : _stored.GetValueOrDefault(kind);

    /// <summary>The plan's limit of <paramref name="kind"/>; null = unlimited.</summary>
    public long? Limit(QuotaKind kind)
    {
        var effective = project.Effective;
        return kind switch
        {
            QuotaKind.Dialogues => effective.DialoguesPerMonth,
            QuotaKind.Messages => effective.MessagesPerMonth,
            QuotaKind.Memories => effective.MemoriesStored,
            _ => effective.RequestsPerMonth,
        };
    }

    public IEnumerable<Measurement<long>> ObserveUsed()
    {
        foreach (var kind in Enum.GetValues<QuotaKind>())
        {
            if (Limit(kind) is not null)
            {
                yield return new Measurement<long>(Used(kind), new KeyValuePair<string, object?>("kind", PlanQuotas.Name(kind)));
            }
        }
    }

    public IEnumerable<Measurement<long>> ObserveLimits()
    {
        foreach (var kind in Enum.GetValues<QuotaKind>())
        {
            if (Limit(kind) is { } limit)
            {
                yield return new Measurement<long>(limit, new KeyValuePair<string, object?>("kind", PlanQuotas.Name(kind)));
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(RefreshInterval, time);
        do
        {
            try
            {
                await RefreshAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is InvalidOperationException or System.Data.Common.DbException)
            {
                LogRefreshFailed(logger, ex.GetType().Name);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>Reads the counters of this month and the stored ones (one query).</summary>
    public async Task RefreshAsync(CancellationToken ct)
    {
        var month = PlanQuotas.MonthOf(time);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DialogueDbContext>();
        var sums = await db.QuotaStripes.AsNoTracking()
            .Where(s => s.Period == month || s.Period == PlanQuotas.StoredPeriod)
            .GroupBy(s => s.Kind)
            .Select(g => new { Kind = g.Key, Used = g.Sum(s => s.Used) })
            .ToListAsync(ct);
        var stored = new Dictionary<QuotaKind, long>();
        foreach (var kind in StoredKinds)
        {
            var name = PlanQuotas.Name(kind);
            stored[kind] = sums.Where(s => s.Kind == name).Sum(s => s.Used);
        }

        _stored = stored;
        if (publisher is not null)
        {
            await publisher.PublishAsync(UsageDocument(month), ct);
        }
    }

    /// <summary>What <see cref="UsagePublisher"/> publishes: the counted kinds (limited ones, and API requests) of <paramref name="month"/>.</summary>
    public string UsageDocument(string month)
    {
        var used = new Dictionary<QuotaKind, long> { [QuotaKind.Requests] = Used(QuotaKind.Requests) };
        foreach (var kind in StoredKinds.Where(k => Limit(k) is not null))
        {
            used[kind] = Used(kind);
        }

        return UsagePublisher.Document(month, time.GetUtcNow(), used);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not read plan usage ({Error}); the gauges keep the last values")]
    private static partial void LogRefreshFailed(ILogger logger, string error);
}
