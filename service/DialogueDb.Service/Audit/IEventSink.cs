namespace DialogueDb.Service.Audit;

/// <summary>
/// Where the relay publishes events. A publish either succeeds for the whole batch or throws; each publish also trims
/// what is older than the events' retention window (<see cref="EventRetention"/>).
/// </summary>
internal interface IEventSink
{
    string Describe { get; }

    Task PublishAsync(IReadOnlyList<byte[]> events, CancellationToken ct);

    /// <summary>Drops every event older than the retention window (the retention job calls it too).</summary>
    Task TrimAsync(CancellationToken ct);
}
