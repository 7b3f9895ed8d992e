using System.Text.Json.Serialization;

namespace DialogueDb.Service.Policy;

/// <summary>Per-project overrides of the plan's retention periods in days; 0 means unlimited.</summary>
internal sealed record RetentionOverrides
{
    [JsonPropertyName("dialogueDays")] public int? DialogueDays { get; init; }
    [JsonPropertyName("shortTermMemoryDays")] public int? ShortTermMemoryDays { get; init; }
    [JsonPropertyName("longTermMemoryDays")] public int? LongTermMemoryDays { get; init; }

    public bool HasNegative() => DialogueDays < 0 || ShortTermMemoryDays < 0 || LongTermMemoryDays < 0;
}
