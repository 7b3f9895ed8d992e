using System.Diagnostics.Metrics;
using System.Text.RegularExpressions;

namespace DialogueDb.Operator.Tests.Metrics;

/// <summary>
/// The Prometheus names of every instrument a binary declares, as the OpenTelemetry Prometheus exporter writes them:
/// dots become underscores, the unit is appended (<c>s</c> → <c>_seconds</c>; <c>{…}</c> adds nothing), counters end in
/// <c>_total</c>, histograms give <c>_bucket</c>, <c>_sum</c> and <c>_count</c>. A counter appears on a scrape only
/// after its first measurement, so declared instruments (not one scrape) say what a binary can export;
/// <see cref="OperatorMetricsEndpointTests"/> checks the rule against a live scrape.
/// </summary>
internal static partial class ExportedMetrics
{
    /// <summary>Listens while <paramref name="start"/> builds the binaries; returns the names of the instruments of <paramref name="meters"/>.</summary>
    public static async Task<HashSet<string>> DeclaredDuringAsync(IReadOnlySet<string> meters, Func<Task> start)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (meters.Contains(instrument.Meter.Name))
                {
                    lock (names)
                    {
                        names.UnionWith(PrometheusNames(instrument));
                    }
                }
            },
        };
        listener.Start();
        await start();
        lock (names)
        {
            return [.. names];
        }
    }

    public static IEnumerable<string> PrometheusNames(Instrument instrument)
    {
        var name = NotAllowed().Replace(instrument.Name, "_");
        var unit = instrument.Unit switch
        {
            null or "" or "1" => "",
            "s" => "seconds",
            "ms" => "milliseconds",
            "By" => "bytes",
            var braces when braces.StartsWith('{') => "",
            var other => NotAllowed().Replace(other, "_"),
        };
        if (unit.Length > 0 && !name.EndsWith("_" + unit, StringComparison.Ordinal))
        {
            name += "_" + unit;
        }

        var type = instrument.GetType();
        var generic = type.IsGenericType ? type.GetGenericTypeDefinition() : type;
        if (generic == typeof(Counter<>) || generic == typeof(ObservableCounter<>))
        {
            return [name.EndsWith("_total", StringComparison.Ordinal) ? name : name + "_total"];
        }

        return generic == typeof(Histogram<>) ? [name + "_bucket", name + "_sum", name + "_count"] : [name];
    }

    [GeneratedRegex("[^a-zA-Z0-9_:]")]
    private static partial Regex NotAllowed();
}
