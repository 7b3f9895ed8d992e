using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace DialogueDb.Service.Hosting.Commands;

/// <summary>
/// Readiness of a worker process: its database answers a query on the connection the worker uses (the maintenance
/// role on PostgreSQL). A query, not just an open: a pooled connection the server has dropped fails here.
/// </summary>
internal sealed class WorkerDatabaseHealthCheck(MaintenanceDatabase database) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        await using var db = database.NewContext();
        await db.Database.ExecuteSqlRawAsync("SELECT 1", cancellationToken);
        return HealthCheckResult.Healthy();
    }
}
