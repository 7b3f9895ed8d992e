using DialogueDb.Service.Api.Messages;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Api.Dialogues;

/// <summary>Contract §4: dialogues, their state, ending, threads and cascade deletion.</summary>
internal static class DialogueApi
{
    public const string Active = "active";
    public const string Ended = "ended";

    public static RouteGroupBuilder MapDialogues(this RouteGroupBuilder api)
    {
        var writes = api.MapGroup("").RequireWriteKey();
        writes.MapPost("/dialogue", CreateAsync).WithSummary("Create a dialogue, optionally with initial messages and state")
            .WithQuery("namespace");
        api.MapGet("/dialogue", ListAsync).WithSummary("List dialogues (newest first), or the threads of one")
            .WithQuery([.. ListQuery.Parameters, "threadOf"]);
        api.MapGet("/dialogue/{id}", GetAsync).WithSummary("Get a dialogue with its state").WithQuery("namespace");
        writes.MapPut("/dialogue/{id}", UpdateAsync).WithSummary("Update label, tags or the whole state").WithQuery("namespace");
        writes.MapPut("/dialogue/{id}/state", MergeStateAsync).WithSummary("Shallow-merge into the state; answers the state")
            .WithQuery("namespace");
        writes.MapMethods("/dialogue/{id}/end", ["POST", "PUT"], EndAsync).WithSummary("End the dialogue (no more messages)")
            .WithQuery("namespace");
        writes.MapDelete("/dialogue/{id}", DeleteAsync).WithSummary("Delete the dialogue with its messages and threads")
            .WithQuery("namespace");
        return api;
    }

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

    private static async Task<IResult> ListAsync(ApiRequest request, DialogueDbContext db, ApiKeyRing project, ContentProtector protector,
        CancellationToken ct)
    {
        var (query, error) = ListQuery.Parse(request.Query, descendingByDefault: true);
        if (query is null)
        {
            return error!;
        }

        var ns = request.Namespace;
        await db.UseNamespaceAsync(ns, ct);
        var dialogues = db.Dialogues.AsNoTracking().Where(d => d.Namespace == ns);
        if (request.Query.TryGetValue("threadOf", out var threadOfValue))
        {
            var threadOf = threadOfValue.ToString();
            if (!InputRules.IsValidId(threadOf))
            {
                return ApiErrors.Invalid("threadOf", InputRules.IdRule);
            }

            dialogues = dialogues.Where(d => d.ThreadOf == threadOf);
        }

        var page = await Pages.ByCreated(dialogues, query).ToListAsync(ct);
        return new JsonPayload(w => Pages.Write(w, page, query, d => new Cursor(query.Descending, d.Created, d.Id),
            d => DialogueJson.Write(w, d, project.ProjectId, request.Http.TraceIdentifier, protector, withState: false)));
    }

    private static async Task<IResult> GetAsync(string id, ApiRequest request, DialogueDbContext db, ItemReads reads, ApiKeyRing project,
        ContentProtector protector, CancellationToken ct)
    {
        var ns = request.Namespace;
        var dialogue = await reads.DialogueAsync(db, ns, id, ct);
        return dialogue is null
            ? ApiErrors.DialogueNotFound(id)
            : new JsonPayload(w => DialogueJson.Write(w, dialogue, project.ProjectId, request.Http.TraceIdentifier, protector));
    }

    private static async Task<IResult> UpdateAsync(string id, [ObjectBody] ApiRequest request, DialogueDbContext db, TimeProvider time,
        ApiKeyRing project, ContentProtector protector, AuditOutbox audit, CancellationToken ct)
    {
        var (changes, error) = DialogueChanges.Parse(request.Object, id);
        if (changes is null)
        {
            return error!;
        }

        var ns = request.Namespace;
        await db.UseNamespaceAsync(ns, ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var dialogue = await db.Dialogues.FirstOrDefaultAsync(d => d.Namespace == ns && d.Id == id, ct);
        if (dialogue is null)
        {
            return ApiErrors.DialogueNotFound(id);
        }

        if (changes.ChangesMetadata(dialogue.Metadata))
        {
            return ApiErrors.Immutable("metadata");
        }

        if (changes.SetsLabel)
        {
            dialogue.Label = protector.EncryptText(changes.Label, RowIdentity.DialogueLabel(ns, id));
        }

        dialogue.Tags = changes.Tags ?? dialogue.Tags;
        if (changes.State is not null)
        {
            dialogue.State = protector.Encrypt(changes.State, RowIdentity.DialogueState(ns, id));
        }

        dialogue.Modified = Timestamps.Now(time);
        await db.SaveChangesAsync(ct);
        await audit.AddAsync(db, request.Actor, "dialogue.updated", "dialogue", ns, id, id,
            w => DialogueJson.Write(w, dialogue, project.ProjectId, request.Http.TraceIdentifier, protector), ct);
        await tx.CommitAsync(ct);
        return new JsonPayload(w => DialogueJson.Write(w, dialogue, project.ProjectId, request.Http.TraceIdentifier, protector));
    }

    private static async Task<IResult> MergeStateAsync(string id,
        [ObjectBody(Message = "state must be a JSON object", NamespaceFromQueryOnly = true)] ApiRequest request, DialogueDbContext db,
        TimeProvider time, ContentProtector protector, AuditOutbox audit, CancellationToken ct)
    {
        var patch = request.Object;
        var ns = request.Namespace;
        // Touching the row first takes its lock, so concurrent merges apply one after the other.
        await db.UseNamespaceAsync(ns, ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var now = Timestamps.Now(time);
        var touched = await db.Dialogues.Where(d => d.Namespace == ns && d.Id == id)
            .ExecuteUpdateAsync(s => s.SetProperty(d => d.Modified, now), ct);
        if (touched == 0)
        {
            return ApiErrors.DialogueNotFound(id);
        }

        var current = await db.Dialogues.Where(d => d.Namespace == ns && d.Id == id).Select(d => d.State).FirstAsync(ct);
        var merged = DialogueState.Merge(protector.Decrypt(current, RowIdentity.DialogueState(ns, id)), patch);
        if (merged.Length > InputRules.MaxStateBytes)
        {
            return ApiErrors.PayloadTooLarge("state");
        }

        var encrypted = protector.Encrypt(merged, RowIdentity.DialogueState(ns, id));
        await db.Dialogues.Where(d => d.Namespace == ns && d.Id == id)
            .ExecuteUpdateAsync(s => s.SetProperty(d => d.State, encrypted), ct);
        await audit.AddAsync(db, request.Actor, "state.updated", "state", ns, id, id,
            w => w.WriteRawValue(merged, skipInputValidation: true), ct);
        await tx.CommitAsync(ct);
        return new JsonPayload(w => w.WriteRawValue(merged, skipInputValidation: true));
    }

    private static async Task<IResult> EndAsync(string id, ApiRequest request, DialogueDbContext db, TimeProvider time,
        ApiKeyRing project, ContentProtector protector, AuditOutbox audit, CancellationToken ct)
    {
        var ns = request.Namespace;
        var now = Timestamps.Now(time);
        await db.UseNamespaceAsync(ns, ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var ended = await db.Dialogues.Where(d => d.Namespace == ns && d.Id == id && d.Status == Active)
            .ExecuteUpdateAsync(s => s.SetProperty(d => d.Status, Ended).SetProperty(d => d.EndedAt, now)
                .SetProperty(d => d.Modified, now), ct);
        var dialogue = await db.Dialogues.AsNoTracking().FirstOrDefaultAsync(d => d.Namespace == ns && d.Id == id, ct);
        if (dialogue is null)
        {
            return ApiErrors.DialogueNotFound(id);
        }

        // Ending twice is a no-op: one event, for the change.
        if (ended == 1)
        {
            await audit.AddAsync(db, request.Actor, "dialogue.ended", "dialogue", ns, id, id,
                w => DialogueJson.Write(w, dialogue, project.ProjectId, request.Http.TraceIdentifier, protector), ct);
        }

        await tx.CommitAsync(ct);
        return new JsonPayload(w => DialogueJson.Write(w, dialogue, project.ProjectId, request.Http.TraceIdentifier, protector));
    }

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
