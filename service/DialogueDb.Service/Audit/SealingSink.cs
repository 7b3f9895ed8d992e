namespace DialogueDb.Service.Audit;

/// <summary>Every sink publishes sealed events: the item of each is sealed under the event key on its way out.</summary>
internal sealed class SealingSink(IEventSink inner, EventKeySource keys) : IEventSink, IDisposable
{
    private readonly EventSealer _sealer = new(() => keys.Current);

    public string Describe => inner.Describe;

    public Task PublishAsync(IReadOnlyList<byte[]> events, CancellationToken ct) =>
        inner.PublishAsync([.. events.Select(e => _sealer.Seal(e))], ct);

    public Task TrimAsync(CancellationToken ct) => inner.TrimAsync(ct);

    public void Dispose() => keys.Dispose();
}
