using DialogueDb.Service.Api.Messages;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Api.Dialogues;

/// <summary>Contract §4: dialogues, their state, ending, threads and cascade deletion.</summary>
internal static partial class DialogueApi
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

    private static async Task<IResult> GetAsync(string id, ApiRequest request, ItemReads reads, ApiKeyRing project,
        ContentProtector protector, CancellationToken ct)
    {
        var ns = request.Namespace;
        var dialogue = await reads.DialogueAsync(request.Http.RequestServices, ns, id, ct);
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
}
