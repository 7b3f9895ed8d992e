using DialogueDb.Operator.Reconciliation;

namespace DialogueDb.Operator.Kubernetes;

internal sealed partial class ProjectController
{
    private async Task WorkAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            (string Namespace, string Name) key;
            try
            {
                key = await _queue.TakeAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }

            var started = _time.GetTimestamp();
            try
            {
                var result = await _reconciler.ReconcileAsync(key.Namespace, key.Name, cancellationToken);
                _queue.Forget(key);
                if (result.RequeueAfter is { } after)
                {
                    _queue.AddAfter(key, after);
                }

                _metrics?.Reconciled(result.RequeueAfter is null ? OperatorMetrics.ReconcileResults.Success
                    : OperatorMetrics.ReconcileResults.RequeueAfter, _time.GetElapsedTime(started));
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                _metrics?.Reconciled(OperatorMetrics.ReconcileResults.Error, _time.GetElapsedTime(started));
                var delay = _queue.AddRateLimited(key);
                LogReconcileFailed(_logger, key.Namespace, key.Name, delay.TotalSeconds, ProjectReconciler.Describe(ex));
                await _reconciler.ReportErrorAsync(key.Namespace, key.Name, ex, cancellationToken);
            }
            finally
            {
                _metrics?.Worked(_time.GetElapsedTime(started));
                Interlocked.Increment(ref _reconciles);
                _queue.Done(key);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reconcile of {Namespace}/{Name} failed; retrying in {Seconds:F1} s: {Error}")]
    private static partial void LogReconcileFailed(ILogger logger, string @namespace, string name, double seconds, string error);
}
