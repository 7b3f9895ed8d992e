namespace DialogueDb.Operator.Reconciliation;

internal sealed partial class ProjectReconciler
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not record the failure of {Namespace}/{Name} on the object: {Error}")]
    private static partial void LogReportFailed(ILogger logger, string @namespace, string name, string error);
}
