using System.Collections.Concurrent;
using System.Diagnostics;

namespace DialogueDb.LoadGen;

/// <summary>
/// One successful request, as the writer saw it: when it was sent and answered (Stopwatch ticks), the new message's id
/// (appends; empty for the other scenarios) and the rows it stored or returned.
/// </summary>
internal readonly record struct Append(long Sent, long Answered, string MessageId, int Rows = 1);

/// <summary>Everything a run measured; lags and latencies are in milliseconds.</summary>
internal sealed record RunResult(
    IReadOnlyList<Append> Measured,
    double WindowSeconds,
    IReadOnlyDictionary<int, int> Errors,
    int ScheduleSlips,
    Percentiles ApiLatency,
    Percentiles? Lag,
    int Missing,
    double EventsPerSecond,
    long StreamEntries,
    long Duplicates);

/// <summary>
/// Creates one dialogue per writer, then appends for warm-up + duration. Open loop: writer w of C sends at
/// start + (w + k·C)/rate, so the writers together hit the rate evenly spread; a writer that falls more than one interval
/// behind restarts its schedule from now (counted as a slip) instead of bursting to catch up. Closed loop (rate 0):
/// each writer sends its next append when the previous one returned. Only appends sent after the warm-up count.
/// </summary>
internal static class LoadRun
{
    public static async Task<RunResult> ExecuteAsync(LoadOptions options, CancellationToken ct)
    {
        using var api = new ApiClient(options);
        var dialogues = new string[options.Concurrency];
        // Appending writers get a dialogue each (no row-lock contention between them); readers share the given one.
        var shared = options.Scenario is "list" or "read" or "noop"
            ? options.Dialogue ?? await api.CreateDialogueAsync(options.Namespace, ct).ConfigureAwait(false)
            : null;
        for (var w = 0; w < dialogues.Length; w++)
        {
            dialogues[w] = shared ?? await api.CreateDialogueAsync(options.Namespace, ct).ConfigureAwait(false);
        }

        // The request a writer repeats: status, message id (null = failed) and rows.
        Func<string, Task<(int Status, string? Id, int Rows)>> request = options.Scenario switch
        {
            "batch" => async d => await api.AppendBatchAsync(d, ct).ConfigureAwait(false) is var (s, n) && n > 0 ? (s, "", n) : (s, null, 0),
            "list" => async d => await api.ListAsync(d, ct).ConfigureAwait(false) is var (s, n) && s == 200 ? (s, "", n) : (s, null, 0),
            "read" => async d => await api.GetDialogueAsync(d, ct).ConfigureAwait(false) is var s && s == 200 ? (s, "", 1) : (s, null, 0),
            "noop" => async _ => await api.LiveAsync(ct).ConfigureAwait(false) is var s && s == 200 ? (s, "", 1) : (s, null, 0),
            _ => async d => await api.AppendAsync(d, ct).ConfigureAwait(false) is var (s, id) ? (s, id, 1) : default,
        };

        var watcher = options.Scenario == "relay"
            ? await StreamWatcher.StartAsync(options.Redis!, options.Stream).ConfigureAwait(false)
            : null;
        try
        {
            var appends = new ConcurrentBag<Append>();
            var errors = new ConcurrentDictionary<int, int>();
            var slips = 0;
            var start = Stopwatch.GetTimestamp();
            var measureFrom = start + Ticks(options.Warmup);
            var end = measureFrom + Ticks(options.Duration);
            var interval = options.Rate > 0 ? options.Concurrency / options.Rate : 0;

            async Task WriterAsync(int w)
            {
                var next = start + (long)(Stopwatch.Frequency * interval * w / options.Concurrency);
                while (!ct.IsCancellationRequested)
                {
                    var now = Stopwatch.GetTimestamp();
                    if (interval > 0)
                    {
                        if (next > now)
                        {
                            await Task.Delay(Stopwatch.GetElapsedTime(now, next), ct).ConfigureAwait(false);
                        }
                        else if (now - next > Stopwatch.Frequency * interval)
                        {
                            Interlocked.Increment(ref slips);
                            next = now;
                        }
                    }

                    var sent = Stopwatch.GetTimestamp();
                    if (sent >= end)
                    {
                        return;
                    }

                    int status;
                    string? id;
                    int rows;
                    try
                    {
                        (status, id, rows) = await request(dialogues[w]).ConfigureAwait(false);
                    }
                    catch (HttpRequestException)
                    {
                        (status, id, rows) = (-1, null, 0);
                    }
                    catch (TaskCanceledException) when (!ct.IsCancellationRequested)
                    {
                        (status, id, rows) = (-2, null, 0); // the client's timeout
                    }

                    var answered = Stopwatch.GetTimestamp();
                    if (sent >= measureFrom)
                    {
                        if (id is null)
                        {
                            errors.AddOrUpdate(status, 1, (_, n) => n + 1);
                        }
                        else
                        {
                            appends.Add(new Append(sent, answered, id, rows));
                        }
                    }

                    next += (long)(Stopwatch.Frequency * interval);
                }
            }

            await Task.WhenAll(Enumerable.Range(0, options.Concurrency).Select(w => Task.Run(() => WriterAsync(w), ct))).ConfigureAwait(false);
            var measured = appends.OrderBy(a => a.Answered).ToList();
            var window = Stopwatch.GetElapsedTime(measureFrom, Math.Min(end, Stopwatch.GetTimestamp())).TotalSeconds;
            var apiLatency = new Percentiles(measured.Select(a => Ms(a.Answered - a.Sent)));
            if (watcher is null)
            {
                return new RunResult(measured, window, errors, slips, apiLatency, null, 0, 0, 0, 0);
            }

            // Drain: the last appends' events may still be in the outbox.
            var drainUntil = Stopwatch.GetTimestamp() + Ticks(options.DrainTimeout);
            while (Stopwatch.GetTimestamp() < drainUntil && measured.Any(a => !watcher.Seen.ContainsKey(a.MessageId)))
            {
                await Task.Delay(50, ct).ConfigureAwait(false);
            }

            var lags = new List<double>(measured.Count);
            var missing = 0;
            long lastSeen = 0;
            foreach (var a in measured)
            {
                if (watcher.Seen.TryGetValue(a.MessageId, out var seen))
                {
                    // The commit happened before the response was written, so the event may even arrive before it:
                    // such lags are negative and kept as they are.
                    lags.Add(Ms(seen - a.Answered));
                    lastSeen = Math.Max(lastSeen, seen);
                }
                else
                {
                    missing++;
                }
            }

            // Events of the measured appends over the time from the window's start until the last of them arrived:
            // when the relay keeps up this is the append rate; when it falls behind, its own rate.
            var eventsPerSecond = lags.Count == 0 ? 0 : lags.Count / Stopwatch.GetElapsedTime(measureFrom, lastSeen).TotalSeconds;
            return new RunResult(measured, window, errors, slips, apiLatency, new Percentiles(lags), missing, eventsPerSecond,
                watcher.Entries, watcher.Duplicates);
        }
        finally
        {
            if (watcher is not null)
            {
                await watcher.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// The seed scenario: one new dialogue filled with <see cref="LoadOptions.SeedMessages"/> messages in atomic batches,
    /// sent by the writers in parallel (they serialise on the dialogue row, which still saves the HTTP round trips).
    /// </summary>
    public static async Task<string> SeedAsync(LoadOptions options, CancellationToken ct)
    {
        using var api = new ApiClient(options);
        var dialogue = options.Dialogue ?? await api.CreateDialogueAsync(options.Namespace, ct).ConfigureAwait(false);
        var left = options.SeedMessages;
        async Task WriterAsync()
        {
            while (true)
            {
                var take = Math.Min(options.Batch, Interlocked.Add(ref left, -options.Batch) + options.Batch);
                if (take <= 0)
                {
                    return;
                }

                var (status, rows) = take == options.Batch
                    ? await api.AppendBatchAsync(dialogue, ct).ConfigureAwait(false)
                    : await api.AppendBatchAsync(dialogue, SeedBody(options, take), ct).ConfigureAwait(false);
                if (rows != take)
                {
                    throw new HttpRequestException($"seeding {dialogue}: a batch of {take} answered {status}");
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, options.Concurrency).Select(_ => Task.Run(WriterAsync, ct))).ConfigureAwait(false);
        return dialogue;
    }

    private static byte[] SeedBody(LoadOptions options, int count) => System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(
        Enumerable.Repeat(new Dictionary<string, string> { ["role"] = "user", ["content"] = new string('x', options.ContentBytes) }, count).ToArray());

    private static long Ticks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
}
