using System.Text.Json.Serialization;

namespace DialogueDb.Service.Policy;

/// <summary>Per-project overrides of the plan's limits. Absent: the plan's number.</summary>
internal sealed record LimitOverrides
{
    [JsonPropertyName("requestsPerSecond")] public long? RequestsPerSecond { get; init; }
    [JsonPropertyName("dialoguesPerMonth")] public long? DialoguesPerMonth { get; init; }
    [JsonPropertyName("messagesPerMonth")] public long? MessagesPerMonth { get; init; }
    [JsonPropertyName("memoriesStored")] public long? MemoriesStored { get; init; }
    [JsonPropertyName("requestsPerMonth")] public long? RequestsPerMonth { get; init; }

    public bool HasNegative() =>
        RequestsPerSecond < 1 || DialoguesPerMonth < 0 || MessagesPerMonth < 0 || MemoriesStored < 0 || RequestsPerMonth < 0;
}
