using DialogueDb.Service.Audit;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using DialogueDb.Service.Summaries;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Api.Summaries;

/// <summary>
/// Contract §10: summaries of a dialogue, written asynchronously. <c>POST /summary</c> stores the summary in
/// <c>processing</c> with its durable job in the request's transaction and answers 202; a worker completes or fails it
/// (see <see cref="SummaryWorker"/>); clients poll <c>GET /summary/{id}</c>. A summary is a write for plan limits;
/// reading and deleting keep working over them.
/// </summary>
internal static class SummaryApi
{
    public static RouteGroupBuilder MapSummaries(this RouteGroupBuilder api)
    {
        var writes = api.MapGroup("").RequireWriteKey();
        writes.MapPost("/summary", CreateAsync).WithSummary("Summarise a dialogue (asynchronous: 202, then poll)").WithQuery("namespace");
        api.MapGet("/summary/{id}", GetAsync).WithSummary("Get a summary").WithQuery("namespace");
        api.MapGet("/summaries", ListAsync).WithSummary("List a dialogue's summaries (newest first)")
            .WithQuery([.. ListQuery.Parameters, "dialogueId"]);
        writes.MapDelete("/summary/{id}", DeleteAsync).WithSummary("Delete a summary").WithQuery("namespace");
        return api;
    }

    private static async Task<IResult> CreateAsync([ObjectBody] ApiRequest request, DialogueDbContext db, TimeProvider time,
        ProjectPolicy policy, ApiKeyRing project, ContentProtector protector, PlanQuotas quotas, AuditOutbox audit,
        SummarySignal signal, CancellationToken ct)
    {
        var settings = policy.Current.Summaries ?? SummarySettings.Default;
        var (input, error) = SummaryRequest.Parse(request.Object, settings);
        if (input is null)
        {
            return error!;
        }

        var ns = request.Namespace;
        await db.UseNamespaceAsync(ns, ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var dialogue = await db.Dialogues.AsNoTracking().Where(d => d.Namespace == ns && d.Id == input.DialogueId)
            .Select(d => new { d.LastSeq }).FirstOrDefaultAsync(ct);
        if (dialogue is null)
        {
            return ApiErrors.DialogueNotFound(input.DialogueId);
        }

        var (range, rangeError) = await ResolveRangeAsync(db, ns, input, dialogue.LastSeq, ct);
        if (rangeError is not null)
        {
            return rangeError;
        }

        if (input.Id is { } clientId && await db.Summaries.AnyAsync(s => s.Namespace == ns && s.Id == clientId, ct))
        {
            return ApiErrors.DuplicateId(clientId);
        }

        if (await quotas.CheckUsedUpAsync(db, QuotaKind.Messages, ct) is { } overQuota)
        {
            return overQuota;
        }

        var now = Timestamps.Now(time);
        var summary = new SummaryRow
        {
            Namespace = ns,
            Id = input.Id ?? Ulid.NewUlid(time.GetUtcNow()).ToString(),
            DialogueId = input.DialogueId,
            Status = SummaryStatus.Processing,
            Provider = settings.Provider,
            Model = settings.Provider == SummarySettings.Extractive ? null : settings.Model,
            Template = input.Template,
            FromSeq = range.From,
            ToSeq = range.To,
            Created = now,
            Modified = now,
        };
        db.Summaries.Add(summary);
        db.SummaryJobs.Add(new SummaryJobRow
        {
            Namespace = ns, SummaryId = summary.Id, DialogueId = summary.DialogueId, NotBefore = now, Enqueued = now,
        });
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException ex) when (StorageErrors.IsUniqueViolation(ex))
        {
            return ApiErrors.DuplicateId(summary.Id);
        }

        await audit.AddAsync(db, request.Actor, "summary.created", "summary", ns, summary.Id, summary.DialogueId,
            w => SummaryJson.Write(w, summary, project.ProjectId, protector), ct);
        await tx.CommitAsync(ct);
        signal.Nudge();
        return new JsonPayload(w => SummaryJson.Write(w, summary, project.ProjectId, protector), StatusCodes.Status202Accepted);
    }

    /// <summary>The range's sequence numbers: from the first message (or startId) to the newest now (or endId).</summary>
    private static async Task<((long From, long To) Range, ApiError? Error)> ResolveRangeAsync(DialogueDbContext db, string ns,
        SummaryRequest input, long lastSeq, CancellationToken ct)
    {
        long from = 1, to = lastSeq;
        if (input.StartId is { } startId)
        {
            if (await SeqOfAsync(db, ns, input.DialogueId, startId, ct) is not { } seq)
            {
                return (default, ApiErrors.Invalid("startId", "is not a message of this dialogue"));
            }

            from = seq;
        }

        if (input.EndId is { } endId)
        {
            if (await SeqOfAsync(db, ns, input.DialogueId, endId, ct) is not { } seq)
            {
                return (default, ApiErrors.Invalid("endId", "is not a message of this dialogue"));
            }

            to = seq;
        }

        return from > to && input.StartId is not null && input.EndId is not null
            ? (default, ApiErrors.Invalid("endId", "comes before startId in the dialogue"))
            : ((from, to), null);
    }

    private static async Task<long?> SeqOfAsync(DialogueDbContext db, string ns, string dialogueId, string messageId, CancellationToken ct) =>
        await db.Messages.AsNoTracking().Where(m => m.Namespace == ns && m.DialogueId == dialogueId && m.Id == messageId)
            .Select(m => (long?)m.Seq).FirstOrDefaultAsync(ct);

    private static async Task<IResult> GetAsync(string id, ApiRequest request, DialogueDbContext db, ApiKeyRing project,
        ContentProtector protector, CancellationToken ct)
    {
        var ns = request.Namespace;
        await db.UseNamespaceAsync(ns, ct);
        var summary = await db.Summaries.AsNoTracking().FirstOrDefaultAsync(s => s.Namespace == ns && s.Id == id, ct);
        return summary is null
            ? ApiErrors.SummaryNotFound(id)
            : new JsonPayload(w => SummaryJson.Write(w, summary, project.ProjectId, protector));
    }

    private static async Task<IResult> ListAsync(ApiRequest request, DialogueDbContext db, ApiKeyRing project, ContentProtector protector,
        CancellationToken ct)
    {
        var dialogueId = request.Query["dialogueId"].ToString();
        if (dialogueId.Length == 0)
        {
            return ApiErrors.Missing("dialogueId");
        }

        if (!InputRules.IsValidId(dialogueId))
        {
            return ApiErrors.Invalid("dialogueId", InputRules.IdRule);
        }

        var (query, error) = ListQuery.Parse(request.Query, descendingByDefault: true);
        if (query is null)
        {
            return error!;
        }

        var ns = request.Namespace;
        await db.UseNamespaceAsync(ns, ct);
        if (!await db.Dialogues.AnyAsync(d => d.Namespace == ns && d.Id == dialogueId, ct))
        {
            return ApiErrors.DialogueNotFound(dialogueId);
        }

        var rows = db.Summaries.AsNoTracking().Where(s => s.Namespace == ns && s.DialogueId == dialogueId);
        var page = await Pages.ByCreated(rows, query).ToListAsync(ct);
        return new JsonPayload(w => Pages.Write(w, page, query, s => new Cursor(query.Descending, s.Created, s.Id),
            s => SummaryJson.Write(w, s, project.ProjectId, protector)));
    }

    private static async Task<IResult> DeleteAsync(string id, ApiRequest request, DialogueDbContext db, ApiKeyRing project,
        ContentProtector protector, AuditOutbox audit, CancellationToken ct)
    {
        var ns = request.Namespace;
        await db.UseNamespaceAsync(ns, ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var summary = await db.Summaries.AsNoTracking().FirstOrDefaultAsync(s => s.Namespace == ns && s.Id == id, ct);
        if (summary is null)
        {
            return ApiErrors.SummaryNotFound(id);
        }

        // A job still pending goes too; a worker running it finds its job gone and drops its result. The job first, in
        // the order the worker locks them when it finishes (job, then summary), or the two deadlock.
        await db.SummaryJobs.Where(j => j.Namespace == ns && j.SummaryId == id).ExecuteDeleteAsync(ct);
        if (await db.Summaries.Where(s => s.Namespace == ns && s.Id == id).ExecuteDeleteAsync(ct) == 0)
        {
            return ApiErrors.SummaryNotFound(id); // deleted meanwhile; this transaction is not committed
        }
        await audit.AddAsync(db, request.Actor, "summary.deleted", "summary", ns, id, summary.DialogueId,
            w => SummaryJson.Write(w, summary, project.ProjectId, protector), ct);
        await tx.CommitAsync(ct);
        return JsonPayload.Deleted(id);
    }
}
