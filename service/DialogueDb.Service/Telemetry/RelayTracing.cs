using System.Diagnostics;

namespace DialogueDb.Service.Telemetry;

/// <summary>The relay's spans: one per publication (batch size on it; never an event's content or namespace).</summary>
internal static class RelayTracing
{
    public const string SourceName = "DialogueDb.Relay";

    public static readonly ActivitySource Source = new(SourceName);
}
