namespace DialogueDb.Service.Summaries;

/// <summary>The <c>status</c> values of a summary (contract §10).</summary>
internal static class SummaryStatus
{
    public const string Processing = "processing";
    public const string Completed = "completed";
    public const string Failed = "failed";
}
