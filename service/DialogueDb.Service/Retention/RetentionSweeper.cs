using System.Globalization;
using DialogueDb.Service.Api.Dialogues;
using DialogueDb.Service.Api.Memories;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Retention;

/// <summary>
/// Contract §8: permanently deletes dialogues whose last activity (<c>modified</c>) is older than the dialogue period,
/// with their messages, state, threads and summaries, and memories older than the period of their term; pending outbox events of
/// what it deletes go too, and each deletion emits its <c>*.deleted</c> event (actor <c>retention</c>).
/// Bounded work: messages go in batches, each batch a short transaction that re-checks (under the dialogue's row lock)
/// that the dialogue is still expired, so a dialogue that comes back to life is left alone. Idempotent and resumable:
/// a rerun continues where a killed one stopped. Runs over a connection that sees every namespace.
/// </summary>
internal sealed class RetentionSweeper(
    Func<DialogueDbContext> newContext,
    EffectivePolicy policy,
    string projectId,
    ContentProtector protector,
    AuditOutbox audit,
    TimeProvider time,
    TextWriter progress,
    Telemetry.ServiceMetrics? metrics = null)
{
    public sealed record Totals(long Dialogues, long Messages, long Memories);

    public async Task<Totals> RunAsync(int batchSize, CancellationToken ct)
    {
        var started = time.GetTimestamp();
        var now = time.GetUtcNow();
        long dialogues = 0, messages = 0, memories = 0;

        if (policy.DialogueRetentionDays is { } dialogueDays)
        {
            var cutoff = now.AddDays(-dialogueDays).ToUnixTimeMilliseconds();
            progress.WriteLine($"Dialogues: deleting those inactive since before {Api.Timestamps.Format(cutoff)} ({dialogueDays} days).");
            while (true)
            {
                List<(string Namespace, string Id)> expired;
                await using (var db = newContext())
                {
                    expired = [.. (await db.Dialogues.IgnoreQueryFilters().AsNoTracking()
                        .Where(d => d.Modified < cutoff).OrderBy(d => d.Modified).Take(batchSize)
                        .Select(d => new { d.Namespace, d.Id }).ToListAsync(ct)).Select(d => (d.Namespace, d.Id))];
                }

                if (expired.Count == 0)
                {
                    break;
                }

                foreach (var (ns, id) in expired)
                {
                    var (deletedDialogues, deletedMessages) = await DeleteDialogueAsync(ns, id, cutoff, batchSize, ct);
                    dialogues += deletedDialogues;
                    messages += deletedMessages;
                }

                Report(started, dialogues, messages, memories);
            }
        }
        else
        {
            progress.WriteLine("Dialogues: kept forever (unlimited retention).");
        }

        foreach (var (term, days) in (ValueTuple<string, int?>[])
                 [("short", policy.ShortTermMemoryRetentionDays), ("long", policy.LongTermMemoryRetentionDays)])
        {
            if (days is not { } memoryDays)
            {
                progress.WriteLine($"Memories ({term} term): kept forever (unlimited retention).");
                continue;
            }

            var cutoff = now.AddDays(-memoryDays).ToUnixTimeMilliseconds();
            progress.WriteLine($"Memories ({term} term): deleting those unchanged since before {Api.Timestamps.Format(cutoff)} ({memoryDays} days).");
            while (true)
            {
                var (read, deleted) = await DeleteMemoriesAsync(term, cutoff, batchSize, ct);
                if (read == 0)
                {
                    break;
                }

                memories += deleted;
                Report(started, dialogues, messages, memories);
            }
        }

        metrics?.RetentionDeleted("dialogues", dialogues);
        metrics?.RetentionDeleted("messages", messages);
        metrics?.RetentionDeleted("memories", memories);
        metrics?.RetentionRun(time.GetElapsedTime(started));
        progress.WriteLine($"Retention complete: {dialogues} dialogues, {messages} messages, {memories} memories deleted in " +
            $"{time.GetElapsedTime(started).TotalSeconds.ToString("F1", CultureInfo.InvariantCulture)} s.");
        return new Totals(dialogues, messages, memories);
    }

    /// <summary>Deletes one expired dialogue with its threads and messages; (0, n) when it turned out to be alive.</summary>
    private async Task<(long Dialogues, long Messages)> DeleteDialogueAsync(string ns, string id, long cutoff, int batchSize,
        CancellationToken ct)
    {
        long messages = 0;
        List<string> tree;
        await using (var db = newContext())
        {
            tree = await TreeAsync(db, ns, id, ct);
        }

        // Messages first, in bounded transactions; each re-checks the root under its row lock.
        while (true)
        {
            await using var db = newContext();
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            if (!await LockIfExpiredAsync(db, ns, id, cutoff, ct))
            {
                return (0, messages);
            }

            var batch = await db.Messages.IgnoreQueryFilters()
                .Where(m => m.Namespace == ns && tree.Contains(m.DialogueId)).OrderBy(m => m.DialogueId).ThenBy(m => m.Seq)
                .Take(batchSize).Select(m => new { m.DialogueId, m.Seq }).ToListAsync(ct);
            if (batch.Count == 0)
            {
                break;
            }

            foreach (var group in batch.GroupBy(m => m.DialogueId))
            {
                var dialogueId = group.Key;
                var last = group.Max(m => m.Seq);
                messages += await db.Messages.IgnoreQueryFilters()
                    .Where(m => m.Namespace == ns && m.DialogueId == dialogueId && m.Seq <= last).ExecuteDeleteAsync(ct);
            }

            await tx.CommitAsync(ct);
        }

        // Then the dialogues themselves (the tree again: a thread may have been added meanwhile), their pending events,
        // one dialogue.deleted event each, and the parent's thread count.
        await using (var db = newContext())
        {
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            if (!await LockIfExpiredAsync(db, ns, id, cutoff, ct))
            {
                return (0, messages);
            }

            tree = await TreeAsync(db, ns, id, ct);
            var rows = await db.Dialogues.IgnoreQueryFilters().AsNoTracking().Where(d => d.Namespace == ns && tree.Contains(d.Id)).ToListAsync(ct);
            messages += await db.Messages.IgnoreQueryFilters().Where(m => m.Namespace == ns && tree.Contains(m.DialogueId)).ExecuteDeleteAsync(ct);
            await db.Outbox.Where(o => o.Namespace == ns && tree.Contains(o.Subject)).ExecuteDeleteAsync(ct);
            // Jobs before summaries: the summary worker locks a job, then its summary.
            await db.SummaryJobs.IgnoreQueryFilters().Where(j => j.Namespace == ns && tree.Contains(j.DialogueId)).ExecuteDeleteAsync(ct);
            await db.Summaries.IgnoreQueryFilters().Where(s => s.Namespace == ns && tree.Contains(s.DialogueId)).ExecuteDeleteAsync(ct);
            foreach (var row in rows)
            {
                await audit.AddAsync(db, Actor.Retention, "dialogue.deleted", "dialogue", ns, row.Id, row.Id,
                    w => DialogueJson.Write(w, row, projectId, requestId: null, protector), ct);
            }

            var deleted = await db.Dialogues.IgnoreQueryFilters().Where(d => d.Namespace == ns && tree.Contains(d.Id)).ExecuteDeleteAsync(ct);
            var parent = rows.FirstOrDefault(r => r.Id == id)?.ThreadOf;
            if (parent is not null && !tree.Contains(parent))
            {
                await db.Dialogues.IgnoreQueryFilters().Where(d => d.Namespace == ns && d.Id == parent && d.ThreadCount > 0)
                    .ExecuteUpdateAsync(s => s.SetProperty(d => d.ThreadCount, d => d.ThreadCount - 1), ct);
            }

            await tx.CommitAsync(ct);
            return (deleted, messages);
        }
    }

    private static async Task<bool> LockIfExpiredAsync(DialogueDbContext db, string ns, string id, long cutoff, CancellationToken ct) =>
        await db.Dialogues.IgnoreQueryFilters().Where(d => d.Namespace == ns && d.Id == id && d.Modified < cutoff)
            .ExecuteUpdateAsync(s => s.SetProperty(d => d.LastSeq, d => d.LastSeq), ct) == 1;

    /// <summary>The dialogue and its threads, recursively.</summary>
    private static async Task<List<string>> TreeAsync(DialogueDbContext db, string ns, string id, CancellationToken ct)
    {
        var all = new List<string> { id };
        List<string> generation = [id];
        while (generation.Count > 0)
        {
            generation = await db.Dialogues.IgnoreQueryFilters()
                .Where(d => d.Namespace == ns && d.ThreadOf != null && generation.Contains(d.ThreadOf)).Select(d => d.Id).ToListAsync(ct);
            generation.RemoveAll(all.Contains);
            all.AddRange(generation);
        }

        return all;
    }

    /// <summary>One batch: (expired memories read, memories deleted); a memory updated meanwhile is skipped.</summary>
    private async Task<(int Read, long Deleted)> DeleteMemoriesAsync(string term, long cutoff, int batchSize, CancellationToken ct)
    {
        await using var db = newContext();
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var rows = await db.Memories.IgnoreQueryFilters().AsNoTracking().Where(m => m.Term == term && m.Modified < cutoff)
            .OrderBy(m => m.Modified).Take(batchSize).ToListAsync(ct);
        long deleted = 0;
        foreach (var row in rows)
        {
            // Re-checked in the delete itself: a memory updated since it was read is no longer expired.
            var gone = await db.Memories.IgnoreQueryFilters()
                .Where(m => m.Namespace == row.Namespace && m.Id == row.Id && m.Modified < cutoff).ExecuteDeleteAsync(ct);
            if (gone == 0)
            {
                continue;
            }

            deleted++;
            await db.Outbox.Where(o => o.Namespace == row.Namespace && o.Subject == row.Id).ExecuteDeleteAsync(ct);
            await audit.AddAsync(db, Actor.Retention, "memory.deleted", "memory", row.Namespace, row.Id, row.Id,
                w => MemoryJson.Write(w, row, protector), ct);
        }

        if (deleted > 0)
        {
            await PlanQuotas.ReleaseStoredMemoriesAsync(db, deleted, ct);
        }

        await tx.CommitAsync(ct);
        return (rows.Count, deleted);
    }

    private void Report(long started, long dialogues, long messages, long memories)
    {
        var seconds = Math.Max(time.GetElapsedTime(started).TotalSeconds, 0.001);
        var rows = dialogues + messages + memories;
        progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  deleted {dialogues} dialogues, {messages} messages, {memories} memories — {rows / seconds:F0} rows/s, {seconds:F1} s"));
    }
}
