using DialogueDb.Service.Api.Messages;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Api.Dialogues;

/// <summary>DELETE /dialogue/{id}: the dialogue with its messages, its state and its threads, recursively.</summary>
internal static partial class DialogueApi
{
    private static async Task<IResult> DeleteAsync(string id, ApiRequest request, DialogueDbContext db, TimeProvider time,
        ApiKeyRing project, ContentProtector protector, AuditOutbox audit, CancellationToken ct)
    {
        var ns = request.Namespace;
        var now = Timestamps.Now(time);
        await db.UseNamespaceAsync(ns, ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);

        // Lock the dialogue and then each generation of threads before deleting anything: a concurrent append or
        // thread creation waits for this transaction and then finds the dialogue gone, so nothing is orphaned.
        var root = await LockAsync(db, ns, [id], now, ct);
        if (root == 0)
        {
            return ApiErrors.DialogueNotFound(id);
        }

        var parent = await db.Dialogues.Where(d => d.Namespace == ns && d.Id == id).Select(d => d.ThreadOf).FirstAsync(ct);
        var all = new List<string> { id };
        List<string> generation = [id];
        while (generation.Count > 0)
        {
            generation = await db.Dialogues.Where(d => d.Namespace == ns && d.ThreadOf != null && generation.Contains(d.ThreadOf))
                .Select(d => d.Id).ToListAsync(ct);
            generation.RemoveAll(all.Contains);
            if (generation.Count > 0)
            {
                await LockAsync(db, ns, generation, now, ct);
                all.AddRange(generation);
            }
        }

        var actor = request.Actor;
        foreach (var chunk in all.Chunk(500))
        {
            // One dialogue.deleted event per dialogue (the root and each thread), carrying its last state; it stands
            // for the dialogue's messages and state, which go with it.
            foreach (var last in await db.Dialogues.AsNoTracking().Where(d => d.Namespace == ns && chunk.Contains(d.Id)).ToListAsync(ct))
            {
                await audit.AddAsync(db, actor, "dialogue.deleted", "dialogue", ns, last.Id, last.Id,
                    w => DialogueJson.Write(w, last, project.ProjectId, request.Http.TraceIdentifier, protector), ct);
            }

            await db.Messages.Where(m => m.Namespace == ns && chunk.Contains(m.DialogueId)).ExecuteDeleteAsync(ct);
            // Summaries go with their dialogue (its dialogue.deleted event stands for them), pending jobs too: jobs
            // first, in the order the summary worker locks them (job, then summary), or the two deadlock.
            await db.SummaryJobs.Where(j => j.Namespace == ns && chunk.Contains(j.DialogueId)).ExecuteDeleteAsync(ct);
            await db.Summaries.Where(s => s.Namespace == ns && chunk.Contains(s.DialogueId)).ExecuteDeleteAsync(ct);
            await db.Dialogues.Where(d => d.Namespace == ns && chunk.Contains(d.Id)).ExecuteDeleteAsync(ct);
        }

        if (parent is not null)
        {
            await db.Dialogues.Where(d => d.Namespace == ns && d.Id == parent && d.ThreadCount > 0)
                .ExecuteUpdateAsync(s => s.SetProperty(d => d.ThreadCount, d => d.ThreadCount - 1), ct);
        }

        await tx.CommitAsync(ct);
        return JsonPayload.Deleted(id);
    }

    private static Task<int> LockAsync(DialogueDbContext db, string ns, List<string> ids, long now, CancellationToken ct) =>
        db.Dialogues.Where(d => d.Namespace == ns && ids.Contains(d.Id))
            .ExecuteUpdateAsync(s => s.SetProperty(d => d.Modified, now), ct);
}
