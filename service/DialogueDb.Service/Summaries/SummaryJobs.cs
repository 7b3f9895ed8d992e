using System.Data.Common;
using DialogueDb.Service.Api.Summaries;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Summaries;

/// <summary>
/// The durable summary queue as seen by workers. A claim is one statement that takes due jobs nobody holds (no lease,
/// or a lease that ran out) and leases them to this worker: on PostgreSQL with <c>FOR UPDATE SKIP LOCKED</c>, so
/// workers of several replicas never wait for or take each other's rows; on SQLite the one statement runs under the
/// database's single write lock, which gives the same guarantee. Every later change of a job is conditional on this
/// worker still holding it, so a worker that lost its lease (it stalled past it and another claimed the job) cannot
/// overwrite the other's result. The summary and its job change in one transaction with the audit event.
/// </summary>
internal sealed class SummaryJobs(Func<DialogueDbContext> newContext, ContentProtector protector, AuditOutbox audit, TimeProvider time)
{
    private const string PostgresClaim = """
        UPDATE summary_jobs AS j SET attempts = j.attempts + 1, lease_until = @lease, claimed_by = @worker
        FROM (SELECT id FROM summary_jobs
              WHERE not_before <= @now AND (lease_until IS NULL OR lease_until < @now)
              ORDER BY not_before, id LIMIT @limit FOR UPDATE SKIP LOCKED) AS due
        WHERE j.id = due.id
        RETURNING j.id, j.namespace, j.summary_id, j.dialogue_id, j.attempts
        """;

    private const string SqliteClaim = """
        UPDATE summary_jobs SET attempts = attempts + 1, lease_until = @lease, claimed_by = @worker
        WHERE id IN (SELECT id FROM summary_jobs
                     WHERE not_before <= @now AND (lease_until IS NULL OR lease_until < @now)
                     ORDER BY not_before, id LIMIT @limit)
        RETURNING id, namespace, summary_id, dialogue_id, attempts
        """;

    public Func<DialogueDbContext> NewContext => newContext;

    /// <summary>Leases up to <paramref name="limit"/> due jobs to <paramref name="worker"/> for <paramref name="lease"/>.</summary>
    public async Task<List<ClaimedJob>> ClaimAsync(string worker, int limit, TimeSpan lease, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var leaseUntil = (now + lease).ToUnixTimeMilliseconds();
        await using var db = newContext();
        await db.Database.OpenConnectionAsync(ct);
        await using var command = db.Database.GetDbConnection().CreateCommand();
        command.CommandText = db.Database.IsNpgsql() ? PostgresClaim : SqliteClaim;
        Add(command, "lease", leaseUntil);
        Add(command, "worker", worker);
        Add(command, "now", now.ToUnixTimeMilliseconds());
        Add(command, "limit", limit);
        var claimed = new List<ClaimedJob>(limit);
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            claimed.Add(new ClaimedJob(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                reader.GetInt32(4), leaseUntil));
        }

        return claimed;
    }

    /// <summary>Gives a job back for another attempt after <paramref name="delay"/>; false when this worker no longer held it.</summary>
    public async Task<bool> RetryLaterAsync(ClaimedJob job, string worker, TimeSpan delay, CancellationToken ct)
    {
        var notBefore = (time.GetUtcNow() + delay).ToUnixTimeMilliseconds();
        await using var db = newContext();
        await db.UseNamespaceAsync(job.Namespace, ct);
        return await db.SummaryJobs.Where(j => j.Namespace == job.Namespace && j.Id == job.Id && j.ClaimedBy == worker)
            .ExecuteUpdateAsync(s => s.SetProperty(j => j.ClaimedBy, (string?)null).SetProperty(j => j.LeaseUntil, (long?)null)
                .SetProperty(j => j.NotBefore, notBefore), ct) == 1;
    }

    /// <summary>Stores the finished summary and ends its job; false when this worker no longer held the job.</summary>
    public Task<bool> CompleteAsync(ClaimedJob job, string worker, SummaryOutcome outcome, CancellationToken ct) =>
        FinishAsync(job, worker, "summary.completed", summary =>
        {
            summary.Status = SummaryStatus.Completed;
            summary.Content = outcome.Content is null ? null : protector.Encrypt(outcome.Content, RowIdentity.SummaryContent(summary.Namespace, summary.Id));
            summary.ContentTokenCount = outcome.Content is null ? 0 : TokenEstimate.Of(outcome.Content);
            summary.Model = outcome.Model ?? summary.Model;
            summary.FromCreated = outcome.FromCreated;
            summary.ToCreated = outcome.ToCreated;
            summary.MessageCount = outcome.MessageCount;
            summary.SummarizedCount = outcome.SummarizedCount;
            summary.SkippedCount = outcome.MessageCount - outcome.SummarizedCount;
        }, ct);

    /// <summary>Fails the summary for good with <paramref name="code"/>; false when this worker no longer held the job.</summary>
    public Task<bool> FailAsync(ClaimedJob job, string worker, string code, string message, CancellationToken ct) =>
        FinishAsync(job, worker, "summary.failed", summary =>
        {
            summary.Status = SummaryStatus.Failed;
            summary.ErrorCode = code;
            summary.ErrorMessage = message.Length <= 1024 ? message : message[..1024];
        }, ct);

    private async Task<bool> FinishAsync(ClaimedJob job, string worker, string eventType, Action<SummaryRow> change, CancellationToken ct)
    {
        await using var db = newContext();
        await db.UseNamespaceAsync(job.Namespace, ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var ended = await db.SummaryJobs.Where(j => j.Namespace == job.Namespace && j.Id == job.Id && j.ClaimedBy == worker)
            .ExecuteDeleteAsync(ct);
        if (ended == 0)
        {
            return false;
        }

        var summary = await db.Summaries.FirstOrDefaultAsync(s => s.Namespace == job.Namespace && s.Id == job.SummaryId, ct);
        if (summary is not null && summary.Status == SummaryStatus.Processing)
        {
            change(summary);
            summary.Modified = Math.Max(summary.Modified, Api.Timestamps.Now(time));
            await db.SaveChangesAsync(ct);
            await audit.AddAsync(db, Actor.System, eventType, "summary", job.Namespace, summary.Id, summary.DialogueId,
                w => SummaryJson.Write(w, summary, protector.ProjectId, protector), ct);
        }

        await tx.CommitAsync(ct);
        return true;
    }

    private static void Add(DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }
}
