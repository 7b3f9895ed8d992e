namespace DialogueDb.Service.Summaries;

/// <summary>Wakes the local summary worker after a request queued a job (other replicas' workers poll).</summary>
internal sealed class SummarySignal : IDisposable
{
    private readonly SemaphoreSlim _wake = new(0);

    public void Nudge()
    {
        if (_wake.CurrentCount == 0)
        {
            _wake.Release();
        }
    }

    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken ct) => _wake.WaitAsync(timeout, ct);

    public void Dispose() => _wake.Dispose();
}
