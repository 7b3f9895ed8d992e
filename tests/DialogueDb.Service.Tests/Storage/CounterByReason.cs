using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace DialogueDb.Service.Tests.Storage;

/// <summary>One counter of the host (by its instrument name), summed by its <c>reason</c> tag, from now on.</summary>
internal sealed class CounterByReason : IDisposable
{
    public const string TransientFailures = "dialoguedb.database.transient_failures";
    public const string TransactionReplays = "dialoguedb.database.transaction_replays";

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _counts = new(StringComparer.Ordinal);

    public CounterByReason(IServiceProvider services, string instrument)
    {
        var meters = services.GetRequiredService<IMeterFactory>();
        _listener.InstrumentPublished = (published, listener) =>
        {
            if (ReferenceEquals(published.Meter.Scope, meters) && published.Name == instrument)
            {
                listener.EnableMeasurementEvents(published);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "reason")
                {
                    _counts.AddOrUpdate((string)tag.Value!, value, (_, sum) => sum + value);
                }
            }
        });
        _listener.Start();
    }

    public long Of(string reason) => _counts.GetValueOrDefault(reason);

    public void Dispose() => _listener.Dispose();
}
