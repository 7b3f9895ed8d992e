using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace DialogueDb.Service.Hosting.Commands;

/// <summary>
/// Readiness of a worker process: its worker has started and has not ended. Whether it leads or stands by does not
/// matter; a worker between a crash and its restart is not running.
/// </summary>
internal sealed class WorkerHealthCheck(BackgroundService worker) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(worker.ExecuteTask switch
        {
            null => HealthCheckResult.Unhealthy("not started"),
            { IsCompleted: true } => HealthCheckResult.Unhealthy("stopped"),
            _ => HealthCheckResult.Healthy(),
        });
}
