using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using DialogueDb.Operator.Kubernetes;

namespace DialogueDb.Operator.Tests.Reconciliation;

/// <summary>Measurements of the instruments one operator's meter factory created (other tests' operators are ignored).</summary>
internal sealed class RecordedMetrics : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<(string Name, double Value, KeyValuePair<string, object?>[] Tags)> _measurements = new();
    private readonly List<Instrument> _observable = [];
    private ConcurrentQueue<(string Name, double Value, KeyValuePair<string, object?>[] Tags)>? _observing;

    public RecordedMetrics(IMeterFactory factory)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Scope == factory && instrument.Meter.Name == OperatorMetrics.MeterName)
            {
                if (instrument.IsObservable)
                {
                    lock (_observable)
                    {
                        _observable.Add(instrument);
                    }
                }

                listener.EnableMeasurementEvents(instrument);
            }
        };
        // Histograms count one per recording (a count, as Prometheus' _count); counters add their values.
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, i is Histogram<double> ? 1 : v, tags));
        _listener.Start();
    }

    public double Sum(string name, params (string Key, string Value)[] labels) => Sum(_measurements, name, labels);

    public IEnumerable<string> LabelValues() => _measurements.SelectMany(m => m.Tags).Select(t => t.Value?.ToString() ?? "");

    /// <summary>
    /// The measurements recorded so far, frozen: sums over it agree with each other even while the operator goes on
    /// recording (each <see cref="Sum"/> reads the live record, so two of them can straddle a reconcile).
    /// </summary>
    public Observed Snapshot() => new([.. _measurements]);

    /// <summary>The observable gauges' values now.</summary>
    public Observed Observe()
    {
        var observed = new ConcurrentQueue<(string, double, KeyValuePair<string, object?>[])>();
        lock (_observable)
        {
            _observing = observed;
            _listener.RecordObservableInstruments();
            _observing = null;
        }

        return new Observed(observed);
    }

    public void Dispose() => _listener.Dispose();

    /// <summary>
    /// Gauges' values go to the observation that asked for them; everything else to the record, also while gauges are
    /// being observed (the operator's counters and histograms record on their own threads meanwhile).
    /// </summary>
    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags) =>
        (instrument.IsObservable ? _observing : _measurements)?.Enqueue((instrument.Name, value, tags.ToArray()));

    private static double Sum(IEnumerable<(string Name, double Value, KeyValuePair<string, object?>[] Tags)> measurements, string name,
        (string Key, string Value)[] labels) =>
        measurements.Where(m => m.Name == name && labels.All(l => m.Tags.Any(t => t.Key == l.Key && Equals(t.Value?.ToString(), l.Value))))
            .Sum(m => m.Value);

    public sealed class Observed(IEnumerable<(string Name, double Value, KeyValuePair<string, object?>[] Tags)> values)
    {
        public double Sum(string name, params (string Key, string Value)[] labels) => RecordedMetrics.Sum(values, name, labels);
    }
}
