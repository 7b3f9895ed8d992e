using System.Collections.Concurrent;
using System.Diagnostics;

namespace DialogueDb.Service.Search;

/// <summary>
/// Runs the indexer's embeddings on one dedicated thread at the lowest CPU priority, so that model inference (about a
/// gigaflop per 100-token message, tens of milliseconds of a core) only uses CPU that requests leave idle: under load
/// the API keeps its cores and indexing lags instead; when load drops, the queue drains at full speed. Search queries
/// embed their text on the request path with the plain embedder and are not delayed by this queue.
/// <para>
/// A thread's priority only orders it against the threads of its own process (and, with the kernel's autogroups, of its
/// own session): beside PostgreSQL on the same cores the model still took a share of them under a saturating write load
/// (measured: appends with the model on ÷ unreachable 0.83). So beside the API the thread also waits, before each batch,
/// while the API is busy (<c>busy</c>: requests in flight or the CPU nearly all taken, <see cref="Hosting.CpuPressure"/>),
/// up to <see cref="MaxYield"/>: under a saturating load the vectors follow at one batch per <see cref="MaxYield"/> and
/// catch up when the load eases; keyword search stays current throughout.
/// </para>
/// <para>
/// The thread lowers itself only where the runtime's own threads cannot inherit its priority from it (server GC, and
/// the tiered-compilation worker kept for good, as in the service image: <see cref="Hosting.ThreadNiceness.ReasonNotToLower"/>);
/// elsewhere it runs at normal priority, says why in the log, and relies on the wait alone. Only the work the inner
/// embedder does on this thread runs at its priority: a model with threads of its own must not share them with callers
/// of another priority (see <see cref="SearchSetup.IndexingModel"/>).
/// </para>
/// </summary>
internal sealed partial class LowPriorityEmbedder : IEmbedder, IDisposable
{
    private readonly IEmbedder _inner;
    private readonly ILogger<LowPriorityEmbedder> _logger;
    private readonly BlockingCollection<Work> _work = new();
    private readonly BlockingCollection<Action> _answers = new();
    private readonly Func<bool>? _busy;
    private readonly TimeSpan _maxYield;

    /// <summary>The longest a batch waits for the API to be less busy.</summary>
    public static readonly TimeSpan MaxYield = TimeSpan.FromSeconds(5);

    /// <summary>How often a waiting batch looks again.</summary>
    private static readonly TimeSpan YieldPoll = TimeSpan.FromMilliseconds(20);

    public LowPriorityEmbedder(IEmbedder inner, ILogger<LowPriorityEmbedder> logger, Func<bool>? busy = null, TimeSpan? maxYield = null)
    {
        _inner = inner;
        _logger = logger;
        _busy = busy;
        _maxYield = maxYield ?? MaxYield;
        new Thread(Run) { IsBackground = true, Name = "search embedder" }.Start();
        new Thread(Answer) { IsBackground = true, Name = "search answers" }.Start();
    }

    public int Dimensions => _inner.Dimensions;

    public string Model => _inner.Model;

    /// <summary>Wall time spent embedding so far (cumulative): with the model's threads, the CPU it has used.</summary>
    public TimeSpan Working => TimeSpan.FromTicks(Interlocked.Read(ref _workingTicks));

    private long _workingTicks;

    /// <summary>
    /// The thread's nice value once it has lowered itself (Linux), for tests and diagnostics; null while it has not, or
    /// when it did not (see the class remarks).
    /// </summary>
    public int? Niceness { get; private set; }

    public ValueTask<float[][][]> EmbedAsync(IReadOnlyList<string> texts, CancellationToken ct)
    {
        // Continuations run on the thread pool, never on the low-priority thread.
        var done = new TaskCompletionSource<float[][][]>(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            _work.Add(new Work(texts, done, ct), ct);
        }
        catch (InvalidOperationException)
        {
            throw new ObjectDisposedException(nameof(LowPriorityEmbedder));
        }

        return new ValueTask<float[][][]>(done.Task.WaitAsync(ct));
    }

    public void Dispose() => _work.CompleteAdding();

    private void Run()
    {
        var reason = Hosting.ThreadNiceness.ReasonNotToLower();
        Niceness = reason is null ? Hosting.ThreadNiceness.LowerCurrentThread() : null;
        if (Niceness is null)
        {
            LogNotLowered(_logger, reason ?? "this platform does not let the thread lower its own");
        }

        foreach (var work in _work.GetConsumingEnumerable())
        {
            Action answer;
            try
            {
                YieldWhileBusy(work.Cancellation);
                work.Cancellation.ThrowIfCancellationRequested();
                var started = Stopwatch.GetTimestamp();
                float[][][] vectors;
                try
                {
                    vectors = _inner.EmbedAsync(work.Texts, work.Cancellation).AsTask().GetAwaiter().GetResult();
                }
                finally
                {
                    Interlocked.Add(ref _workingTicks, Stopwatch.GetElapsedTime(started).Ticks);
                }

                answer = () => work.Done.TrySetResult(vectors);
            }
            catch (OperationCanceledException ex)
            {
                answer = () => work.Done.TrySetCanceled(ex.CancellationToken);
            }
            catch (Exception ex)
            {
                // Handed to the indexer, which logs it and keeps the work queued.
                answer = () => work.Done.TrySetException(ex);
            }

            _answers.Add(answer);
        }

        _answers.CompleteAdding();
    }

    /// <summary>
    /// Waits while the API is busy, up to the longest yield or until the work is cancelled. This dedicated thread blocks
    /// on purpose: it has nothing else to run, and it must not hand the wait to the thread pool (see <see cref="Answer"/>).
    /// </summary>
    private void YieldWhileBusy(CancellationToken ct)
    {
        if (_busy is null)
        {
            return;
        }

        var since = Stopwatch.GetTimestamp();
        while (_busy() && Stopwatch.GetElapsedTime(since) < _maxYield)
        {
            if (ct.WaitHandle.WaitOne(YieldPoll))
            {
                return;
            }
        }
    }

    /// <summary>
    /// Completes the callers' tasks from a thread of normal priority: completing them queues their continuations, and
    /// a thread-pool worker created by a queueing thread inherits that thread's nice value on Linux, so the low-priority
    /// thread must never queue work itself.
    /// </summary>
    private void Answer()
    {
        foreach (var answer in _answers.GetConsumingEnumerable())
        {
            answer();
        }
    }

    private sealed record Work(IReadOnlyList<string> Texts, TaskCompletionSource<float[][][]> Done, CancellationToken Cancellation);

    [LoggerMessage(Level = LogLevel.Information, Message = "Search embeddings run at normal thread priority: {Reason}")]
    private static partial void LogNotLowered(ILogger logger, string reason);
}
