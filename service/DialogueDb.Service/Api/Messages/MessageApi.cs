using System.Text.Json;
using DialogueDb.Service.Api.Dialogues;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Api.Messages;

/// <summary>Contract §5: messages, single and batch, with the legacy routes the older SDKs call.</summary>
internal static class MessageApi
{
    private const int MaxBatch = 100;

    public static RouteGroupBuilder MapMessages(this RouteGroupBuilder api)
    {
        const string write = ApiKeyAuthenticationHandler.WritePolicy;
        api.MapPost("/message", CreateOneAsync).WithSummary("Append one message").WithQuery("dialogueId", "namespace").RequireAuthorization(write);
        api.MapPost("/messages", CreateAsync).WithSummary("Append one message (object) or an atomic batch (array)").WithQuery("dialogueId", "namespace").RequireAuthorization(write);
        api.MapPost("/dialogue/{dialogueId}/messages", CreateLegacyAsync).WithSummary("Append messages (legacy route)").WithQuery("namespace").RequireAuthorization(write);

        api.MapGet("/messages", ListAsync).WithSummary("List a dialogue's messages (oldest first)").WithQuery([.. ListQuery.Parameters, "dialogueId"]);
        api.MapGet("/dialogue/{dialogueId}/messages", ListLegacyAsync).WithSummary("List a dialogue's messages (legacy route)").WithQuery(ListQuery.Parameters);

        foreach (var route in (string[])["/message/{id}", "/messages/{id}"])
        {
            api.MapGet(route, GetAsync).WithSummary("Get a message").WithQuery("dialogueId", "namespace");
            api.MapPut(route, UpdateAsync).WithSummary("Replace a message's tags").WithQuery("dialogueId", "namespace").RequireAuthorization(write);
            api.MapDelete(route, DeleteAsync).WithSummary("Delete a message").WithQuery("dialogueId", "namespace").RequireAuthorization(write);
        }

        api.MapDelete("/dialogue/{dialogueId}/message/{id}", DeleteLegacyAsync).WithSummary("Delete a message (legacy route)").WithQuery("namespace").RequireAuthorization(write);
        return api;
    }

    /// <summary>POST /message: one message; dialogueId and namespace from the query, else the body.</summary>
    private static Task<IResult> CreateOneAsync(HttpContext http, DialogueDbContext db, MessageAppender appender, CancellationToken ct) =>
        CreateCoreAsync(http, db, appender, pathDialogueId: null, allowBatch: false, ct);

    /// <summary>POST /messages: an array is an atomic batch answered with an array; an object is one message.</summary>
    private static Task<IResult> CreateAsync(HttpContext http, DialogueDbContext db, MessageAppender appender, CancellationToken ct) =>
        CreateCoreAsync(http, db, appender, pathDialogueId: null, allowBatch: true, ct);

    private static Task<IResult> CreateLegacyAsync(string dialogueId, HttpContext http, DialogueDbContext db, MessageAppender appender,
        CancellationToken ct) =>
        CreateCoreAsync(http, db, appender, dialogueId, allowBatch: true, ct);

    private static async Task<IResult> CreateCoreAsync(HttpContext http, DialogueDbContext db, MessageAppender appender,
        string? pathDialogueId, bool allowBatch, CancellationToken ct)
    {
        var (body, bodyError) = await RequestBody.ReadAsync(http.Request, ct);
        if (body is null)
        {
            return bodyError!;
        }

        using (body)
        {
            if (body.IsEmpty)
            {
                return ApiErrors.Missing("body");
            }

            var root = body.Root;
            var batch = root.ValueKind == JsonValueKind.Array;
            if (batch && !allowBatch)
            {
                return ApiErrors.Invalid("body", "must be a message object; send arrays to POST /messages");
            }

            if (!batch && root.ValueKind != JsonValueKind.Object)
            {
                return ApiErrors.Invalid("body", "must be a message object or an array of messages");
            }

            var (ns, nsError) = Namespaces.Resolve(http.Request, body);
            if (nsError is not null)
            {
                return nsError;
            }

            var rules = new InputRules();
            var dialogueId = pathDialogueId ?? DialogueIdFrom(http.Request, batch ? null : root, rules);
            var inputs = new List<MessageInput>();
            if (batch)
            {
                if (root.GetArrayLength() == 0)
                {
                    rules.Missing("messages");
                }
                else if (root.GetArrayLength() > MaxBatch)
                {
                    rules.Invalid("messages", $"a batch holds at most {MaxBatch} messages");
                }
                else
                {
                    var index = 0;
                    foreach (var element in root.EnumerateArray())
                    {
                        if (MessageInput.Parse(element, $"messages[{index}]", rules) is { } input)
                        {
                            inputs.Add(input);
                        }

                        index++;
                    }
                }
            }
            else if (MessageInput.Parse(root, "", rules) is { } input)
            {
                inputs.Add(input);
            }

            if (rules.HasErrors || dialogueId is null)
            {
                return rules.ToError();
            }

            var (messages, error) = await appender.AppendAsync(db, Actor.Of(http), ns, dialogueId, inputs, ct);
            if (messages is null)
            {
                return error!;
            }

            return batch
                ? new JsonPayload(w =>
                {
                    w.WriteStartArray();
                    foreach (var message in messages)
                    {
                        MessageJson.Write(w, message.Row, message.Content);
                    }

                    w.WriteEndArray();
                })
                : new JsonPayload(w => MessageJson.Write(w, messages[0].Row, messages[0].Content));
        }
    }

    private static string? DialogueIdFrom(HttpRequest request, JsonElement? body, InputRules rules)
    {
        string? value = request.Query.TryGetValue("dialogueId", out var fromQuery) ? fromQuery.ToString() : null;
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

    private static async Task<IResult> ListAsync(HttpContext http, DialogueDbContext db, ItemReads reads, ContentProtector protector,
        CancellationToken ct)
    {
        var rules = new InputRules();
        var dialogueId = DialogueIdFrom(http.Request, null, rules);
        return dialogueId is null ? rules.ToError() : await ListCoreAsync(http, db, reads, protector, dialogueId, ct);
    }

    private static Task<IResult> ListLegacyAsync(string dialogueId, HttpContext http, DialogueDbContext db, ItemReads reads,
        ContentProtector protector, CancellationToken ct) =>
        ListCoreAsync(http, db, reads, protector, dialogueId, ct);

    private static async Task<IResult> ListCoreAsync(HttpContext http, DialogueDbContext db, ItemReads reads, ContentProtector protector,
        string dialogueId, CancellationToken ct)
    {
        var (query, error) = ListQuery.Parse(http.Request.Query, descendingByDefault: false);
        if (query is null)
        {
            return error!;
        }

        var (ns, nsError) = Namespaces.Resolve(http.Request);
        if (nsError is not null)
        {
            return nsError;
        }

        var page = await reads.MessagePageAsync(db, ns, dialogueId, query, ct);
        return page is null
            ? ApiErrors.DialogueNotFound(dialogueId)
            : new JsonPayload(w => Pages.Write(w, page, query, m => new Cursor(query.Descending, m.Seq, ""),
                m => MessageJson.Write(w, m, protector)));
    }

    private static async Task<IResult> GetAsync(string id, HttpContext http, DialogueDbContext db, ItemReads reads,
        ContentProtector protector, CancellationToken ct)
    {
        var (target, error) = Target(http.Request, null);
        if (target is null)
        {
            return error!;
        }

        var (ns, dialogueId) = target.Value;
        var message = await reads.MessageAsync(db, ns, dialogueId, id, ct);
        return message is null ? ApiErrors.MessageNotFound(id) : new JsonPayload(w => MessageJson.Write(w, message, protector));
    }

    /// <summary>The namespace and dialogue a message route addresses (query first, else body).</summary>
    private static ((string Namespace, string DialogueId)? Target, ApiError? Error) Target(HttpRequest request, RequestBody? body)
    {
        var (ns, nsError) = Namespaces.Resolve(request, body);
        if (nsError is not null)
        {
            return (null, nsError);
        }

        var rules = new InputRules();
        JsonElement? obj = body is not null && body.TryGetObject(out var o) ? o : null;
        var dialogueId = DialogueIdFrom(request, obj, rules);
        return dialogueId is null ? (null, rules.ToError()) : ((ns, dialogueId), null);
    }

    private static async Task<IResult> UpdateAsync(string id, HttpContext http, DialogueDbContext db, TimeProvider time,
        ContentProtector protector, AuditOutbox audit, CancellationToken ct)
    {
        var (body, bodyError) = await RequestBody.ReadAsync(http.Request, ct);
        if (body is null)
        {
            return bodyError!;
        }

        using (body)
        {
            if (!body.TryGetObject(out var obj))
            {
                return ApiErrors.Invalid("body", "must be a JSON object");
            }

            var (target, error) = Target(http.Request, body);
            if (target is null)
            {
                return error!;
            }

            var rules = new InputRules();
            var tags = rules.Tags(obj, "tags", "tags");
            if (rules.HasErrors)
            {
                return rules.ToError();
            }

            var (ns, dialogueId) = target.Value;
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
            await audit.AddAsync(db, Actor.Of(http), "message.updated", "message", ns, id, dialogueId, w => MessageJson.Write(w, current, protector), ct);
            await tx.CommitAsync(ct);
            return new JsonPayload(w => MessageJson.Write(w, current, protector));
        }
    }

    private static async Task<IResult> DeleteAsync(string id, HttpContext http, DialogueDbContext db, TimeProvider time,
        ContentProtector protector, AuditOutbox audit, CancellationToken ct)
    {
        var (body, bodyError) = await RequestBody.ReadAsync(http.Request, ct);
        if (body is null)
        {
            return bodyError!;
        }

        using (body)
        {
            var (target, error) = Target(http.Request, body);
            return target is null ? error! : await DeleteCoreAsync(db, time, protector, audit, Actor.Of(http),
                target.Value.Namespace, target.Value.DialogueId, id, ct);
        }
    }

    private static async Task<IResult> DeleteLegacyAsync(string dialogueId, string id, HttpContext http, DialogueDbContext db,
        TimeProvider time, ContentProtector protector, AuditOutbox audit, CancellationToken ct)
    {
        var (body, bodyError) = await RequestBody.ReadAsync(http.Request, ct);
        if (body is null)
        {
            return bodyError!;
        }

        using (body)
        {
            var (ns, nsError) = Namespaces.Resolve(http.Request, body);
            return nsError ?? await DeleteCoreAsync(db, time, protector, audit, Actor.Of(http), ns, dialogueId, id, ct);
        }
    }

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
