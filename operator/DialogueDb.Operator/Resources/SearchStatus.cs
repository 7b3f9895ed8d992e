using System.ComponentModel;

namespace DialogueDb.Operator.Resources;

internal sealed class SearchStatus
{
    [Description("The last rebuild requested with spec.search.reindex.")]
    public ReindexStatus? Reindex { get; set; }
}

internal sealed class ReindexStatus
{
    [Description("The spec.search.reindex value this rebuild was requested with.")]
    public int? Request { get; set; }

    [Description("The Job running `dialoguedb reindex` for it; absent while it waits (search is off).")]
    public string? Job { get; set; }

    [Description("Pending (search is off; it runs once search is on), Running, Succeeded or Failed.")]
    public string? State { get; set; }

    [Description("Why, for machines: SearchOff (Pending), JobRunning, JobComplete, the Job's failure reason (e.g. BackoffLimitExceeded) or " +
        "JobDeleted (the Job went before it finished).")]
    public string? Reason { get; set; }

    [Description("What happened, for humans.")]
    public string? Message { get; set; }

    [Description("When the Job finished.")]
    [Format("date-time")]
    public DateTime? CompletionTime { get; set; }
}
