namespace DialogueDb.Service.Hosting;

/// <summary>
/// Wakes one local background worker at once after a writer queued work for it (other replicas' workers poll). Nudges
/// while the worker is busy collapse into one wake-up. Each worker has its own subclass, so each is its own service.
/// </summary>
internal abstract class WakeSignal : IDisposable
{
    private readonly SemaphoreSlim _wake = new(0);

    public void Nudge()
    {
        if (_wake.CurrentCount == 0)
        {
            _wake.Release();
        }
    }

    /// <summary>True when nudged within <paramref name="timeout"/>, false when the time ran out.</summary>
    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken ct) => _wake.WaitAsync(timeout, ct);

    public void Dispose()
    {
        _wake.Dispose();
        GC.SuppressFinalize(this);
    }
}
