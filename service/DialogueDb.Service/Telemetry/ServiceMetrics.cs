using System.Diagnostics.Metrics;

namespace DialogueDb.Service.Telemetry;

/// <summary>
/// The service's own instruments, on one meter per host (from the host's <see cref="IMeterFactory"/>). Every label value
/// is one of a fixed set named here: never content, a key, a namespace or an id. Recording is a lock-free add on a
/// pre-created instrument with at most two constant tags (no allocation on the request path); the rate-limit decisions,
/// counted on every API request, are plain counters read when the metrics are collected (no per-request tag lookup in
/// the exporter).
/// </summary>
internal sealed class ServiceMetrics
{
    public const string MeterName = "DialogueDb.Service";

    private static readonly string[] RateLimitDecisionNames =
        [RateLimitDecisions.Allowed, RateLimitDecisions.Limited, RateLimitDecisions.Degraded, RateLimitDecisions.Unavailable];

    private readonly long[] _rateLimitDecisions = new long[RateLimitDecisionNames.Length];
    private readonly Counter<long> _planLimitExceeded;
    private readonly Counter<long> _authFailures;
    private readonly Counter<long> _reloads;
    private readonly Counter<long> _eventsPublished;
    private readonly Histogram<double> _publishLag;
    private readonly Histogram<int> _relayBatchSize;
    private readonly Counter<long> _retentionRowsDeleted;
    private readonly Histogram<double> _retentionDuration;
    private readonly Counter<long> _searchIndexed;
    private readonly Counter<long> _searchEmbedded;
    private readonly Counter<long> _searchEmbeddingFailed;
    private readonly Counter<long> _databaseTransientFailures;
    private readonly Counter<long> _transactionReplays;
    private readonly TimeProvider _time;
    private long _outboxDepth;
    private long _searchQueueDepth;
    private long _searchVectorQueueDepth;
    private long _searchVectorsFailed;

    public ServiceMetrics(IMeterFactory meters, TimeProvider time)
    {
        _time = time;
        var meter = meters.Create(MeterName);
        meter.CreateObservableCounter("dialoguedb.ratelimit.decisions", ObserveRateLimitDecisions, "{request}",
            "Rate-limit decisions on API requests by decision: allowed, limited (429), degraded (allowed by the in-process " +
            "fallback while Redis is unreachable), unavailable (503, fail-closed)");
        _planLimitExceeded = meter.CreateCounter<long>("dialoguedb.plan.limit_exceeded", "{request}",
            "Requests answered 429 PLAN_LIMIT_EXCEEDED, by quota kind");
        _authFailures = meter.CreateCounter<long>("dialoguedb.auth.failures", "{request}",
            "Requests with a malformed Authorization header or an unknown key, and attempts refused while an address is throttled");
        _reloads = meter.CreateCounter<long>("dialoguedb.reloads", "{reload}",
            "Changes to key rings, certificates and the project policy: applied or rejected (the last good one stays)");
        _eventsPublished = meter.CreateCounter<long>("dialoguedb.relay.events.published", "{event}",
            "Audit events the relay published to the event sink");
        _publishLag = meter.CreateHistogram("dialoguedb.relay.publish.lag", "s",
            "Time from an event's commit in the outbox to its publication", advice: new InstrumentAdvice<double>
            {
                HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
            });
        _relayBatchSize = meter.CreateHistogram<int>("dialoguedb.relay.batch.size", "{event}",
            "Events per relay publication", advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 5, 10, 25, 50, 100, 200] });
        meter.CreateObservableGauge("dialoguedb.outbox.depth", () => Volatile.Read(ref _outboxDepth), "{event}",
            "Events waiting in the outbox at the relay's last cycle");
        _retentionRowsDeleted = meter.CreateCounter<long>("dialoguedb.retention.rows.deleted", "{row}",
            "Dialogues, messages and memories deleted by retention, by kind");
        _retentionDuration = meter.CreateHistogram("dialoguedb.retention.run.duration", "s", "Duration of retention runs",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 1, 10, 60, 300, 900, 3600, 14400] });
        _databaseTransientFailures = meter.CreateCounter<long>("dialoguedb.database.transient_failures", "{request}",
            "Requests answered 503 after a transient database failure, by reason: the SQLSTATE (40P01 deadlock, 40001 " +
            "serialization failure, 55P03 lock not available, 57P01 admin shutdown, ...), connection, or sqlite_busy");
        _transactionReplays = meter.CreateCounter<long>("dialoguedb.database.transaction_replays", "{transaction}",
            "Write transactions run again whole after PostgreSQL rolled them back, by reason: the SQLSTATE (40P01 deadlock, " +
            "40001 serialization failure); a request whose last attempt fails too is also counted in dialoguedb.database.transient_failures");
        _searchIndexed = meter.CreateCounter<long>("dialoguedb.search.indexed", "{item}", "Search queue rows the indexer consumed");
        _searchEmbedded = meter.CreateCounter<long>("dialoguedb.search.embedded", "{item}",
            "Items whose vectors the indexer stored (searchable by meaning from then on)");
        _searchEmbeddingFailed = meter.CreateCounter<long>("dialoguedb.search.embedding.failed", "{item}",
            "Failed attempts to embed an item on its own (its first and each later one): searchable by keyword only meanwhile");
        meter.CreateObservableGauge("dialoguedb.search.vector_queue.failed", () => Volatile.Read(ref _searchVectorsFailed), "{item}",
            "Items the embedder failed for at their last attempt, searchable by keyword only until a later attempt passes " +
            "(10 minutes after the first failure, doubling up to a day), at the indexer's last count");
        meter.CreateObservableGauge("dialoguedb.search.vector_queue.depth", () => Volatile.Read(ref _searchVectorQueueDepth), "{item}",
            "Items searchable by keyword whose vectors were still to be computed at the indexer's last cycle");
        meter.CreateObservableGauge("dialoguedb.search.queue.depth", () => Volatile.Read(ref _searchQueueDepth), "{item}",
            "Items waiting in the search queue at the indexer's last cycle");
    }

    public void RateLimitDecision(string decision)
    {
        var index = Array.IndexOf(RateLimitDecisionNames, decision);
        if (index < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(decision), decision, "not a rate-limit decision");
        }

        Interlocked.Increment(ref _rateLimitDecisions[index]);
    }

    /// <summary>The decisions counted so far, one measurement per decision that occurred (as a counter's series appear).</summary>
    private IEnumerable<Measurement<long>> ObserveRateLimitDecisions()
    {
        for (var i = 0; i < RateLimitDecisionNames.Length; i++)
        {
            if (Volatile.Read(ref _rateLimitDecisions[i]) is var count and > 0)
            {
                yield return new Measurement<long>(count, new KeyValuePair<string, object?>("decision", RateLimitDecisionNames[i]));
            }
        }
    }

    public void PlanLimitExceeded(string kind) => _planLimitExceeded.Add(1, new KeyValuePair<string, object?>("kind", kind));

    public void AuthFailure(string reason) => _authFailures.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void Reload(string what, bool applied) => _reloads.Add(1, new KeyValuePair<string, object?>("what", what),
        new KeyValuePair<string, object?>("result", applied ? "applied" : "rejected"));

    /// <summary>One relay publication: the events' commit times in Unix milliseconds.</summary>
    public void RelayPublished(IReadOnlyList<long> occurredUnixMilliseconds)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        _eventsPublished.Add(occurredUnixMilliseconds.Count);
        _relayBatchSize.Record(occurredUnixMilliseconds.Count);
        foreach (var occurred in occurredUnixMilliseconds)
        {
            _publishLag.Record(Math.Max(0, now - occurred) / 1000.0);
        }
    }

    public void OutboxDepth(long depth) => Volatile.Write(ref _outboxDepth, depth);

    public void RetentionDeleted(string kind, long rows)
    {
        if (rows > 0)
        {
            _retentionRowsDeleted.Add(rows, new KeyValuePair<string, object?>("kind", kind));
        }
    }

    public void DatabaseTransientFailure(string reason) =>
        _databaseTransientFailures.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void TransactionReplayed(string reason) =>
        _transactionReplays.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void RetentionRun(TimeSpan duration) => _retentionDuration.Record(duration.TotalSeconds);

    public void SearchIndexed(int rows, long depthAfter)
    {
        if (rows > 0)
        {
            _searchIndexed.Add(rows);
        }

        Volatile.Write(ref _searchQueueDepth, depthAfter);
    }

    public void SearchEmbedded(int items, int failed, long depthAfter)
    {
        if (items > 0)
        {
            _searchEmbedded.Add(items);
        }

        if (failed > 0)
        {
            _searchEmbeddingFailed.Add(failed);
        }

        Volatile.Write(ref _searchVectorQueueDepth, depthAfter);
    }

    public void SearchVectorsFailed(long failed) => Volatile.Write(ref _searchVectorsFailed, failed);

    /// <summary>Label values of <c>dialoguedb.auth.failures</c>.</summary>
    public static class AuthFailureReasons
    {
        public const string MalformedHeader = "malformed_header";
        public const string UnknownKey = "unknown_key";
        public const string Throttled = "throttled";
    }

    /// <summary>Label values of <c>dialoguedb.ratelimit.decisions</c>.</summary>
    public static class RateLimitDecisions
    {
        public const string Allowed = "allowed";
        public const string Limited = "limited";
        public const string Degraded = "degraded";
        public const string Unavailable = "unavailable";
    }
}
