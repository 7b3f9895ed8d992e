using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace DialogueDb.Service.Hosting;

/// <summary><c>/healthz/ready</c>: Degraded while a supervised background service waits to restart after a crash.</summary>
internal sealed class SupervisedServicesHealthCheck(IEnumerable<SupervisedService> services) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var failing = services.Where(s => s.LastFailure is not null).Select(s => $"{s.Name} ({s.LastFailure}, {s.Failures} failures)").ToList();
        return Task.FromResult(failing.Count == 0
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Degraded("Restarting after a failure: " + string.Join(", ", failing)));
    }
}
