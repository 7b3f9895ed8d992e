using System.Text.Json;
using DialogueDb.Service.Api.Dialogues;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Api.Messages;

/// <summary>The append through EF Core: SQLite (embedded mode), whose one writer at a time is the dialogue lock.</summary>
internal sealed partial class MessageAppender
{
    private async Task<(IReadOnlyList<AppendedMessage>? Messages, ApiError? Error)> AppendWithContextAsync(DialogueDbContext db,
        Actor actor, string ns, string dialogueId, IReadOnlyList<MessageInput> inputs, CancellationToken ct)
    {
        var messages = Prepare(ns, dialogueId, inputs);
        var count = messages.Count;
        await db.UseNamespaceAsync(ns, ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);

        // This first write takes the dialogue's lock (SQLite: the database's write lock) and hands out the sequence numbers.
        var dialogue = db.Dialogues.Where(d => d.Namespace == ns && d.Id == dialogueId);
        var updated = await dialogue.Where(d => d.Status == DialogueApi.Active)
            .ExecuteUpdateAsync(s => s
                .SetProperty(d => d.LastSeq, d => d.LastSeq + count)
                .SetProperty(d => d.TotalMessages, d => d.TotalMessages + count), ct);
        if (updated == 0)
        {
            var exists = await dialogue.AnyAsync(ct);
            return (null, exists ? ApiErrors.DialogueEnded(dialogueId) : ApiErrors.DialogueNotFound(dialogueId));
        }

        // The clock is read under the lock, and never earlier than the previous message.
        var locked = await dialogue.Select(d => new { d.LastSeq, d.LastMessageCreated }).FirstAsync(ct);
        var stamp = Math.Max(Timestamps.Now(time), locked.LastMessageCreated ?? long.MinValue);
        var latest = Math.Max(Stamp(messages, inputs, stamp), locked.LastMessageCreated ?? long.MinValue);
        await dialogue.ExecuteUpdateAsync(s => s.SetProperty(d => d.LastMessageCreated, latest).SetProperty(d => d.Modified, stamp), ct);

        var clientIds = inputs.Where(i => i.Id is not null).Select(i => i.Id!).ToList();
        if (clientIds.Count > 0)
        {
            var taken = await db.Messages
                .Where(m => m.Namespace == ns && m.DialogueId == dialogueId && clientIds.Contains(m.Id))
                .Select(m => m.Id).FirstOrDefaultAsync(ct);
            if (taken is not null)
            {
                return (null, ApiErrors.DuplicateId(taken));
            }
        }

        var firstSeq = locked.LastSeq - count + 1;
        for (var i = 0; i < count; i++)
        {
            messages[i].Row.Seq = firstSeq + i;
        }

        db.Messages.AddRange(messages.Select(m => m.Row));
        await db.SaveChangesAsync(ct);

        // One statement for all the events of a batch.
        await audit.AddManyAsync(db, actor, EventType, "message", ns, dialogueId,
            [.. messages.Select(m => (m.Row.Id, (Action<Utf8JsonWriter>?)(w => MessageJson.Write(w, m.Row, m.Content, m.Name))))], ct);

        // Counted last, right before the commit (over the quota the whole batch, events included, rolls back).
        if (await quotas.ConsumeAsync(db, QuotaKind.Messages, count, ct) is { } overQuota)
        {
            return (null, overQuota);
        }

        await tx.CommitAsync(ct);
        return (messages, null);
    }
}
