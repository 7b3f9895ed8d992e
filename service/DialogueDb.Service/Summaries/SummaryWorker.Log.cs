namespace DialogueDb.Service.Summaries;

internal sealed partial class SummaryWorker
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "Summary worker could not claim jobs ({Error}); they stay queued")]
    private static partial void LogClaimFailed(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Summary {SummaryId}: storage failed ({Error}); the job is claimed again after its lease")]
    private static partial void LogJobStorageFailed(ILogger logger, string summaryId, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Summary {SummaryId} completed (attempt {Attempt})")]
    private static partial void LogCompleted(ILogger logger, string summaryId, int attempt);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Summary {SummaryId}: {Code} on attempt {Attempt}; retrying in {DelaySeconds:F1} s")]
    private static partial void LogRetrying(ILogger logger, string summaryId, string code, int attempt, double delaySeconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Summary {SummaryId} failed: {Code} (attempt {Attempt})")]
    private static partial void LogFailed(ILogger logger, string summaryId, string code, int attempt);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Summary {SummaryId}: this worker's lease ran out and another worker holds the job; its result is dropped")]
    private static partial void LogLeaseLost(ILogger logger, string summaryId);
}
