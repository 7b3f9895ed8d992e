using System.Collections.Concurrent;
using System.Diagnostics;

namespace DialogueDb.LoadGen;

/// <summary>One append, as the writer saw it: when it was sent and answered (Stopwatch ticks) and the new message's id.</summary>
internal readonly record struct Append(long Sent, long Answered, string MessageId);

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
        for (var w = 0; w < dialogues.Length; w++)
        {
            dialogues[w] = await api.CreateDialogueAsync(options.Namespace, ct).ConfigureAwait(false);
        }

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
                    try
                    {
                        (status, id) = await api.AppendAsync(dialogues[w], ct).ConfigureAwait(false);
                    }
                    catch (HttpRequestException)
                    {
                        (status, id) = (-1, null);
                    }
                    catch (TaskCanceledException) when (!ct.IsCancellationRequested)
                    {
                        (status, id) = (-2, null); // the client's timeout
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
                            appends.Add(new Append(sent, answered, id));
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

    private static long Ticks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
}
