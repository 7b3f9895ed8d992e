using DialogueDb.Service.Api.Messages;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Api.Dialogues;

/// <summary>POST /dialogue: a dialogue with its first messages, its state and its parent's thread count, in one transaction.</summary>
internal static partial class DialogueApi
{
    private static async Task<IResult> CreateAsync([ObjectBody] ApiRequest request, DialogueDbContext db, TimeProvider time,
        ApiKeyRing project, ContentProtector protector, PlanQuotas quotas, AuditOutbox audit, CancellationToken ct)
    {
        var (input, error) = DialogueInput.Parse(request.Object);
        if (input is null)
        {
            return error!;
        }

        var ns = request.Namespace;
        var (id, threadOf) = (input.Id, input.ThreadOf);
        var now = Timestamps.Now(time);
        var dialogueId = id ?? Ulid.NewUlid(time.GetUtcNow()).ToString();
        await db.UseNamespaceAsync(ns, ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        if (threadOf is not null)
        {
            var parents = await db.Dialogues.Where(d => d.Namespace == ns && d.Id == threadOf)
                .ExecuteUpdateAsync(s => s.SetProperty(d => d.ThreadCount, d => d.ThreadCount + 1), ct);
            if (parents == 0)
            {
                return ApiErrors.DialogueNotFound(threadOf);
            }
        }

        if (id is not null && await db.Dialogues.AnyAsync(d => d.Namespace == ns && d.Id == id, ct))
        {
            return ApiErrors.DuplicateId(id);
        }

        var duplicate = MessageAppender.FirstDuplicateId(input.Messages);
        if (duplicate is not null)
        {
            return ApiErrors.DuplicateId(duplicate);
        }

        var messages = input.Messages.Select((m, i) => m.ToRow(ns, dialogueId, i + 1, now, time, protector)).ToList();
        var dialogue = new DialogueRow
        {
            Namespace = ns,
            Id = dialogueId,
            Status = Active,
            Label = protector.EncryptText(input.Label, RowIdentity.DialogueLabel(ns, dialogueId)),
            ThreadOf = threadOf,
            Tags = input.Tags,
            Metadata = input.Metadata,
            State = protector.Encrypt(input.State ?? "{}", RowIdentity.DialogueState(ns, dialogueId)),
            Created = input.Created ?? now,
            Modified = now,
            TotalMessages = messages.Count,
            LastSeq = messages.Count,
            LastMessageCreated = messages.Count > 0 ? messages[^1].Created : null,
        };
        db.Dialogues.Add(dialogue);
        db.Messages.AddRange(messages);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException ex) when (StorageErrors.IsUniqueViolation(ex))
        {
            return ApiErrors.DuplicateId(dialogueId);
        }

        // Counted last, so the usage row is locked only for the commit; over the quota the whole write rolls back.
        if (await quotas.ConsumeAsync(db, QuotaKind.Dialogues, 1, ct) is { } overDialogues)
        {
            return overDialogues;
        }

        if (await quotas.ConsumeAsync(db, QuotaKind.Messages, messages.Count, ct) is { } overMessages)
        {
            return overMessages;
        }

        var actor = request.Actor;
        await audit.AddAsync(db, actor, "dialogue.created", "dialogue", ns, dialogueId, dialogueId,
            w => DialogueJson.Write(w, dialogue, project.ProjectId, request.Http.TraceIdentifier, protector), ct);
        foreach (var message in messages)
        {
            await audit.AddAsync(db, actor, "message.created", "message", ns, message.Id, dialogueId,
                w => MessageJson.Write(w, message, protector), ct);
        }

        await tx.CommitAsync(ct);
        return new JsonPayload(w => DialogueJson.Write(w, dialogue, project.ProjectId, request.Http.TraceIdentifier, protector, messages));
    }
}
