using System.Text.Json;
using DialogueDb.Service.Api.Dialogues;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Api.Messages;

/// <summary>Contract §5: messages, single and batch, with the legacy routes the older SDKs call.</summary>
internal static partial class MessageApi
{
    public static RouteGroupBuilder MapMessages(this RouteGroupBuilder api)
    {
        var writes = api.MapGroup("").RequireWriteKey();
        writes.MapPost("/message", CreateOneAsync).WithSummary("Append one message").WithQuery("dialogueId", "namespace");
        writes.MapPost("/messages", CreateAsync).WithSummary("Append one message (object) or an atomic batch (array)")
            .WithQuery("dialogueId", "namespace");
        writes.MapPost("/dialogue/{dialogueId}/messages", CreateLegacyAsync).WithSummary("Append messages (legacy route)")
            .WithQuery("namespace");

        api.MapGet("/messages", ListAsync).WithSummary("List a dialogue's messages (oldest first)")
            .WithQuery([.. ListQuery.Parameters, "dialogueId"]);
        api.MapGet("/dialogue/{dialogueId}/messages", ListLegacyAsync).WithSummary("List a dialogue's messages (legacy route)")
            .WithQuery(ListQuery.Parameters);

        foreach (var route in (string[])["/message/{id}", "/messages/{id}"])
        {
            api.MapGet(route, GetAsync).WithSummary("Get a message").WithQuery("dialogueId", "namespace");
            writes.MapPut(route, UpdateAsync).WithSummary("Replace a message's tags").WithQuery("dialogueId", "namespace");
            writes.MapDelete(route, DeleteAsync).WithSummary("Delete a message").WithQuery("dialogueId", "namespace");
        }

        writes.MapDelete("/dialogue/{dialogueId}/message/{id}", DeleteLegacyAsync).WithSummary("Delete a message (legacy route)")
            .WithQuery("namespace");
        return api;
    }

    private static string? DialogueIdFrom(IQueryCollection query, JsonElement? body, InputRules rules)
    {
        string? value = query.TryGetValue("dialogueId", out var fromQuery) ? fromQuery.ToString() : null;
        if (value is null && body is { } obj && obj.TryGetProperty("dialogueId", out var fromBody)
            && fromBody.ValueKind != JsonValueKind.Null)
        {
            value = fromBody.ValueKind == JsonValueKind.String ? fromBody.GetString() : "\0";
        }

        if (string.IsNullOrEmpty(value))
        {
            rules.Missing("dialogueId");
            return null;
        }

        if (!InputRules.IsValidId(value))
        {
            rules.Invalid("dialogueId", InputRules.IdRule);
            return null;
        }

        return value;
    }

    private static async Task<IResult> ListAsync(ApiRequest request, ItemReads reads, ContentProtector protector,
        CancellationToken ct)
    {
        var rules = new InputRules();
        var dialogueId = DialogueIdFrom(request.Query, null, rules);
        return dialogueId is null ? rules.ToError() : await ListCoreAsync(request, reads, protector, dialogueId, ct);
    }

    private static Task<IResult> ListLegacyAsync(string dialogueId, ApiRequest request, ItemReads reads,
        ContentProtector protector, CancellationToken ct) =>
        ListCoreAsync(request, reads, protector, dialogueId, ct);

    private static async Task<IResult> ListCoreAsync(ApiRequest request, ItemReads reads,
        ContentProtector protector, string dialogueId, CancellationToken ct)
    {
        var (query, error) = ListQuery.Parse(request.Query, descendingByDefault: false);
        if (query is null)
        {
            return error!;
        }

        var page = await reads.MessagePageAsync(request.Http.RequestServices, request.Namespace, dialogueId, query, ct);
        return page is null
            ? ApiErrors.DialogueNotFound(dialogueId)
            : new JsonPayload(w => Pages.Write(w, page, query, m => new Cursor(query.Descending, m.Seq, ""),
                m => MessageJson.Write(w, m, protector)));
    }

    private static async Task<IResult> GetAsync(string id, ApiRequest request, ItemReads reads,
        ContentProtector protector, CancellationToken ct)
    {
        var rules = new InputRules();
        if (DialogueIdOf(request, rules) is not { } dialogueId)
        {
            return rules.ToError();
        }

        var message = await reads.MessageAsync(request.Http.RequestServices, request.Namespace, dialogueId, id, ct);
        return message is null ? ApiErrors.MessageNotFound(id) : new JsonPayload(w => MessageJson.Write(w, message, protector));
    }

    /// <summary>The dialogue a message route addresses (query first, else the body).</summary>
    private static string? DialogueIdOf(ApiRequest request, InputRules rules) =>
        DialogueIdFrom(request.Query, request.IsEmpty ? null : request.Object, rules);

    private static async Task<IResult> UpdateAsync(string id, [ObjectBody] ApiRequest request, DialogueDbContext db, TimeProvider time,
        ContentProtector protector, AuditOutbox audit, CancellationToken ct)
    {
        var rules = new InputRules();
        var dialogueId = DialogueIdOf(request, rules);
        if (dialogueId is null)
        {
            return rules.ToError();
        }

        var obj = request.Object;
        var tags = rules.Tags(obj, "tags", "tags");
        if (rules.HasErrors)
        {
            return rules.ToError();
        }

        var ns = request.Namespace;
        await db.UseNamespaceAsync(ns, ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var messages = db.Messages.Where(m => m.Namespace == ns && m.DialogueId == dialogueId && m.Id == id);
        var current = await messages.AsNoTracking().FirstOrDefaultAsync(ct);
        if (current is null)
        {
            return ApiErrors.MessageNotFound(id);
        }

        if (obj.TryGetProperty("content", out _)
            && InputRules.Changes(obj, "content", protector.DecryptString(current.Content, RowIdentity.MessageContent(ns, dialogueId, id))))
        {
            return ApiErrors.Immutable("content");
        }

        if (obj.TryGetProperty("role", out var role) && !(role.ValueKind == JsonValueKind.String && role.GetString() == current.Role))
        {
            return ApiErrors.Immutable("role");
        }

        if (InputRules.Changes(obj, "metadata", current.Metadata))
        {
            return ApiErrors.Immutable("metadata");
        }

        if (tags is null)
        {
            return new JsonPayload(w => MessageJson.Write(w, current, protector));
        }

        var now = Timestamps.Now(time);
        if (await messages.ExecuteUpdateAsync(s => s.SetProperty(m => m.Tags, tags).SetProperty(m => m.Modified, now), ct) == 0)
        {
            return ApiErrors.MessageNotFound(id);
        }

        current.Tags = tags;
        current.Modified = now;
        await audit.AddAsync(db, request.Actor, "message.updated", "message", ns, id, dialogueId,
            w => MessageJson.Write(w, current, protector), ct);
        await tx.CommitAsync(ct);
        return new JsonPayload(w => MessageJson.Write(w, current, protector));
    }

    private static async Task<IResult> DeleteAsync(string id, ApiRequest request, DialogueDbContext db, TimeProvider time,
        ContentProtector protector, AuditOutbox audit, CancellationToken ct)
    {
        var rules = new InputRules();
        return DialogueIdOf(request, rules) is { } dialogueId
            ? await DeleteCoreAsync(db, time, protector, audit, request.Actor, request.Namespace, dialogueId, id, ct)
            : rules.ToError();
    }

    private static Task<IResult> DeleteLegacyAsync(string dialogueId, string id, ApiRequest request, DialogueDbContext db,
        TimeProvider time, ContentProtector protector, AuditOutbox audit, CancellationToken ct) =>
        DeleteCoreAsync(db, time, protector, audit, request.Actor, request.Namespace, dialogueId, id, ct);

    private static async Task<IResult> DeleteCoreAsync(DialogueDbContext db, TimeProvider time, ContentProtector protector,
        AuditOutbox audit, Actor actor, string ns, string dialogueId, string id, CancellationToken ct)
    {
        var now = Timestamps.Now(time);
        await db.UseNamespaceAsync(ns, ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);

        // The dialogue row is locked first, in the same order as appends and dialogue deletion, so none can deadlock.
        var dialogue = db.Dialogues.Where(d => d.Namespace == ns && d.Id == dialogueId);
        if (await dialogue.ExecuteUpdateAsync(s => s.SetProperty(d => d.Modified, now), ct) == 0)
        {
            return ApiErrors.MessageNotFound(id);
        }

        var message = db.Messages.Where(m => m.Namespace == ns && m.DialogueId == dialogueId && m.Id == id);
        var last = await message.AsNoTracking().FirstOrDefaultAsync(ct);
        var deleted = last is null ? 0 : await message.ExecuteDeleteAsync(ct);
        if (deleted == 0)
        {
            return ApiErrors.MessageNotFound(id);
        }

        await audit.AddAsync(db, actor, "message.deleted", "message", ns, id, dialogueId, w => MessageJson.Write(w, last!, protector), ct);

        await dialogue.ExecuteUpdateAsync(s => s.SetProperty(d => d.TotalMessages, d => d.TotalMessages - deleted), ct);
        await tx.CommitAsync(ct);
        return JsonPayload.Deleted(id);
    }
}
