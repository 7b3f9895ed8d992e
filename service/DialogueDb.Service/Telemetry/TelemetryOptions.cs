namespace DialogueDb.Service.Telemetry;

/// <summary>What the request pipeline needs to know about telemetry.</summary>
internal sealed record TelemetryOptions(bool Tracing, IReadOnlySet<int> MetricsPorts);
