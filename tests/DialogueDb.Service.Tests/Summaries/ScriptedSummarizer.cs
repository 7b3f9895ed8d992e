using DialogueDb.Service.Summaries;

namespace DialogueDb.Service.Tests.Summaries;

/// <summary>A provider for fault injection: each call runs the script with the call's number (1, 2, …).</summary>
internal sealed class ScriptedSummarizer(Func<int, SummaryInput, CancellationToken, Task<SummaryText>> script) : ISummarizer
{
    private int _calls;
    private int _inFlight;
    private int _mostInFlight;

    public int Calls => Volatile.Read(ref _calls);

    /// <summary>The most calls that ran at the same time.</summary>
    public int MostInFlight => Volatile.Read(ref _mostInFlight);

    public async Task<SummaryText> SummarizeAsync(SummaryInput input, CancellationToken ct)
    {
        var call = Interlocked.Increment(ref _calls);
        var inFlight = Interlocked.Increment(ref _inFlight);
        lock (this)
        {
            _mostInFlight = Math.Max(_mostInFlight, inFlight);
        }

        try
        {
            return await script(call, input, ct);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }
}
