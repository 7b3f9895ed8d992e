using DialogueDb.Service.Api.Dialogues;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Api.Memories;

/// <summary>Contract §6: memories, records an agent keeps independent of dialogues.</summary>
internal static class MemoryApi
{
    public static RouteGroupBuilder MapMemories(this RouteGroupBuilder api)
    {
        var writes = api.MapGroup("").RequireWriteKey();
        writes.MapPost("/memory", CreateAsync).WithSummary("Create a memory").WithQuery("namespace");
        api.MapGet("/memory", ListAsync).WithSummary("List memories (newest first)").WithQuery(ListQuery.Parameters);
        api.MapGet("/memory/{id}", GetAsync).WithSummary("Get a memory").WithQuery("namespace");
        writes.MapPut("/memory/{id}", UpdateAsync).WithSummary("Update tags, label, description or term").WithQuery("namespace");
        writes.MapDelete("/memory/{id}", DeleteAsync).WithSummary("Delete a memory").WithQuery("namespace");
        return api;
    }

    private static async Task<IResult> CreateAsync([ObjectBody] ApiRequest request, DialogueDbContext db, TimeProvider time,
        ContentProtector protector, PlanQuotas quotas, AuditOutbox audit, CancellationToken ct)
    {
        var (input, error) = MemoryInput.Parse(request.Object);
        if (input is null)
        {
            return error!;
        }

        var ns = request.Namespace;
        var now = Timestamps.Now(time);
        var memoryId = input.Id ?? Ulid.NewUlid(time.GetUtcNow()).ToString();
        var memory = new MemoryRow
        {
            Namespace = ns,
            Id = memoryId,
            Value = protector.Encrypt(input.Value, RowIdentity.MemoryValue(ns, memoryId)),
            Type = input.Type,
            Term = input.Term,
            Label = protector.EncryptText(input.Label, RowIdentity.MemoryLabel(ns, memoryId)),
            Description = protector.EncryptText(input.Description, RowIdentity.MemoryDescription(ns, memoryId)),
            Tags = input.Tags,
            Metadata = input.Metadata,
            Created = now,
            Modified = now,
        };
        await db.UseNamespaceAsync(ns, ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        if (input.Id is not null && await db.Memories.AnyAsync(m => m.Namespace == ns && m.Id == input.Id, ct))
        {
            return ApiErrors.DuplicateId(input.Id);
        }

        db.Memories.Add(memory);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException ex) when (StorageErrors.IsUniqueViolation(ex))
        {
            return ApiErrors.DuplicateId(memory.Id);
        }

        if (await quotas.ConsumeAsync(db, QuotaKind.Memories, 1, ct) is { } overQuota)
        {
            return overQuota;
        }

        await audit.AddAsync(db, request.Actor, "memory.created", "memory", ns, memory.Id, memory.Id,
            w => MemoryJson.Write(w, memory, protector), ct);
        await tx.CommitAsync(ct);

        return new JsonPayload(w => MemoryJson.Write(w, memory, protector));
    }

    private static async Task<IResult> ListAsync(ApiRequest request, DialogueDbContext db, ContentProtector protector, CancellationToken ct)
    {
        var (query, error) = ListQuery.Parse(request.Query, descendingByDefault: true);
        if (query is null)
        {
            return error!;
        }

        var ns = request.Namespace;
        await db.UseNamespaceAsync(ns, ct);
        var rows = db.Memories.AsNoTracking().Where(m => m.Namespace == ns);
        var page = await Pages.ByCreated(rows, query).ToListAsync(ct);
        return new JsonPayload(w => Pages.Write(w, page, query, m => new Cursor(query.Descending, m.Created, m.Id),
            m => MemoryJson.Write(w, m, protector)));
    }

    private static async Task<IResult> GetAsync(string id, ApiRequest request, DialogueDbContext db, ContentProtector protector,
        CancellationToken ct)
    {
        var ns = request.Namespace;
        await db.UseNamespaceAsync(ns, ct);
        var memory = await db.Memories.AsNoTracking().FirstOrDefaultAsync(m => m.Namespace == ns && m.Id == id, ct);
        return memory is null ? ApiErrors.MemoryNotFound(id) : new JsonPayload(w => MemoryJson.Write(w, memory, protector));
    }

    private static async Task<IResult> UpdateAsync(string id, [ObjectBody] ApiRequest request, DialogueDbContext db, TimeProvider time,
        ContentProtector protector, AuditOutbox audit, CancellationToken ct)
    {
        var (changes, error) = MemoryChanges.Parse(request.Object);
        if (changes is null)
        {
            return error!;
        }

        var ns = request.Namespace;
        await db.UseNamespaceAsync(ns, ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var memory = await db.Memories.FirstOrDefaultAsync(m => m.Namespace == ns && m.Id == id, ct);
        if (memory is null)
        {
            return ApiErrors.MemoryNotFound(id);
        }

        if (changes.ChangesValue(() => protector.DecryptString(memory.Value, RowIdentity.MemoryValue(ns, id))))
        {
            return ApiErrors.Immutable("value");
        }

        if (changes.ChangesMetadata(memory.Metadata))
        {
            return ApiErrors.Immutable("metadata");
        }

        var changed = false;
        if (changes.Tags is not null)
        {
            memory.Tags = changes.Tags;
            changed = true;
        }

        if (changes.SetsLabel)
        {
            memory.Label = protector.EncryptText(changes.Label, RowIdentity.MemoryLabel(ns, id));
            changed = true;
        }

        if (changes.SetsDescription)
        {
            memory.Description = protector.EncryptText(changes.Description, RowIdentity.MemoryDescription(ns, id));
            changed = true;
        }

        if (changes.Term is not null)
        {
            memory.Term = changes.Term;
            changed = true;
        }

        if (changed)
        {
            memory.Modified = Timestamps.Now(time);
            await db.SaveChangesAsync(ct);
            await audit.AddAsync(db, request.Actor, "memory.updated", "memory", ns, id, id,
                w => MemoryJson.Write(w, memory, protector), ct);
            await tx.CommitAsync(ct);
        }

        return new JsonPayload(w => MemoryJson.Write(w, memory, protector));
    }

    private static async Task<IResult> DeleteAsync(string id, ApiRequest request, DialogueDbContext db, ContentProtector protector,
        AuditOutbox audit, CancellationToken ct)
    {
        var ns = request.Namespace;
        await db.UseNamespaceAsync(ns, ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var memory = db.Memories.Where(m => m.Namespace == ns && m.Id == id);
        var last = await memory.AsNoTracking().FirstOrDefaultAsync(ct);
        var deleted = last is null ? 0 : await memory.ExecuteDeleteAsync(ct);
        if (deleted == 0)
        {
            return ApiErrors.MemoryNotFound(id);
        }

        await audit.AddAsync(db, request.Actor, "memory.deleted", "memory", ns, id, id, w => MemoryJson.Write(w, last!, protector), ct);

        await PlanQuotas.ReleaseStoredMemoriesAsync(db, deleted, ct);
        await tx.CommitAsync(ct);
        return JsonPayload.Deleted(id);
    }
}
