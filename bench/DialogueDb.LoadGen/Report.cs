using System.Globalization;
using System.Text;

namespace DialogueDb.LoadGen;

internal static class Report
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string Markdown(LoadOptions o, RunResult r)
    {
        var sb = new StringBuilder();
        var target = o.Rate > 0 ? $"{o.Rate.ToString("0.#", Inv)} requests/s (open loop)" : "max (closed loop)";
        sb.AppendLine(Inv, $"## DialogueDB load: {o.Scenario}, {target}, {o.Concurrency} writers{(o.Label.Length > 0 ? $" — {o.Label}" : "")}");
        sb.AppendLine();
        sb.AppendLine(Inv, $"Measured {o.Duration.TotalSeconds:0.#} s after {o.Warmup.TotalSeconds:0.#} s warm-up; {o.ContentBytes}-byte messages; {o.BaseUrl}");
        sb.AppendLine();
        sb.AppendLine("| metric | value |");
        sb.AppendLine("|---|---|");
        sb.AppendLine(Inv, $"| requests ok | {r.Measured.Count} |");
        sb.AppendLine(Inv, $"| requests/s | {r.Measured.Count / r.WindowSeconds:0.0} |");
        sb.AppendLine(Inv, $"| rows/s (messages stored or returned) | {Rows(r) / r.WindowSeconds:0.0} |");
        sb.AppendLine(Inv, $"| errors | {(r.Errors.Count == 0 ? "0" : string.Join(", ", r.Errors.OrderBy(e => e.Key).Select(e => $"{e.Key}: {e.Value}")))} |");
        if (o.Rate > 0)
        {
            sb.AppendLine(Inv, $"| schedule slips (writer fell > 1 interval behind) | {r.ScheduleSlips} |");
        }

        sb.AppendLine(Inv, $"| API latency p50 / p90 / p99 / max (ms) | {F(r.ApiLatency.At(50))} / {F(r.ApiLatency.At(90))} / {F(r.ApiLatency.At(99))} / {F(r.ApiLatency.Max)} |");
        if (r.Lag is { } lag)
        {
            sb.AppendLine(Inv, $"| events/s on the stream | {r.EventsPerSecond:0.0} |");
            sb.AppendLine(Inv, $"| publish lag p50 / p90 / p99 / max (ms) | {F(lag.At(50))} / {F(lag.At(90))} / {F(lag.At(99))} / {F(lag.Max)} |");
            sb.AppendLine(Inv, $"| publish lag min (ms; < 0: event arrived before the HTTP response) | {F(lag.Min)} |");
            sb.AppendLine(Inv, $"| missing events | {r.Missing} |");
            sb.AppendLine(Inv, $"| duplicate events | {r.Duplicates} |");
            sb.AppendLine(Inv, $"| stream entries read (all types) | {r.StreamEntries} |");
        }

        sb.AppendLine();
        return sb.ToString();
    }

    public static void AppendTsv(LoadOptions o, RunResult r, string path)
    {
        var header = !File.Exists(path);
        var lag = r.Lag;
        var fields = new[]
        {
            o.Label, o.Scenario, o.Rate.ToString("0.#", Inv), o.Concurrency.ToString(Inv),
            (r.Measured.Count / r.WindowSeconds).ToString("0.0", Inv), r.EventsPerSecond.ToString("0.0", Inv),
            F(lag?.At(50)), F(lag?.At(90)), F(lag?.At(99)), F(lag?.Max), r.Missing.ToString(Inv),
            F(r.ApiLatency.At(50)), F(r.ApiLatency.At(99)), r.Errors.Values.Sum().ToString(Inv), r.ScheduleSlips.ToString(Inv),
            (Rows(r) / r.WindowSeconds).ToString("0.0", Inv), F(r.ApiLatency.At(90)),
        };
        var text = (header ? "label\tscenario\trate\twriters\tappends_s\tevents_s\tlag_p50\tlag_p90\tlag_p99\tlag_max\tmissing\tapi_p50\tapi_p99\terrors\tslips\trows_s\tapi_p90\n" : "")
            + string.Join('\t', fields) + "\n";
        File.AppendAllText(path, text);
    }

    private static long Rows(RunResult r) => r.Measured.Sum(a => (long)a.Rows);

    private static string F(double? ms) => ms is { } v && !double.IsNaN(v) ? v.ToString("0.0", Inv) : "-";
}
