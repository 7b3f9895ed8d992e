using System.ComponentModel;
using System.ComponentModel.DataAnnotations;

namespace DialogueDb.Operator.Resources;

internal sealed class LimitOverrides
{
    [Description("Sustained requests per second (GCRA rate limit; burst is twice the rate).")]
    [Range(1, long.MaxValue)]
    public long? RequestsPerSecond { get; set; }

    [Description("Dialogues created per calendar month (UTC).")]
    [Range(0, long.MaxValue)]
    public long? DialoguesPerMonth { get; set; }

    [Description("Messages written per calendar month (UTC).")]
    [Range(0, long.MaxValue)]
    public long? MessagesPerMonth { get; set; }

    [Description("Memories stored at any one time.")]
    [Range(0, long.MaxValue)]
    public long? MemoriesStored { get; set; }

    [Description("API requests per calendar month (UTC).")]
    [Range(0, long.MaxValue)]
    public long? RequestsPerMonth { get; set; }
}

internal sealed class RetentionOverrides
{
    [Description("Days after its last activity that a dialogue (with its messages, state and threads) is deleted; 0 keeps it forever.")]
    [Range(0, 36500)]
    public int? DialogueDays { get; set; }

    [Description("Days a short-term memory is kept; 0 keeps it forever.")]
    [Range(0, 36500)]
    public int? ShortTermMemoryDays { get; set; }

    [Description("Days a long-term memory is kept; 0 keeps it forever.")]
    [Range(0, 36500)]
    public int? LongTermMemoryDays { get; set; }
}
