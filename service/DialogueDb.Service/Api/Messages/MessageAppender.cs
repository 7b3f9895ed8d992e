using DialogueDb.Service.Audit;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;

namespace DialogueDb.Service.Api.Messages;

/// <summary>A message just written, with its content and name as plaintext (the row holds them encrypted).</summary>
internal sealed record AppendedMessage(MessageRow Row, string Content, string? Name);

/// <summary>
/// Appends messages to a dialogue (contract §5), atomically with their audit events and the plan's message count.
/// Sequence numbers and the server's timestamp are both taken under the dialogue's row lock, so a dialogue's order (by
/// sequence) is its <c>created</c> order: a timestamp the server assigns is never earlier than the dialogue's previous
/// message, and <c>lastMessageCreated</c> never goes back. PostgreSQL writes in one round trip in the common case
/// (<c>MessageAppender.Postgres.cs</c>); SQLite, which has a single writer, goes through EF Core
/// (<c>MessageAppender.Context.cs</c>).
/// </summary>
internal sealed partial class MessageAppender(NamespaceBatches? batches, ContentProtector protector, PlanQuotas quotas,
    AuditOutbox audit, TimeProvider time, TransactionReplay replay)
{
    public const string EventType = "message.created";

    /// <summary>Appends <paramref name="inputs"/>; the SQLite path takes the request's EF Core context from <paramref name="services"/>.</summary>
    public async Task<(IReadOnlyList<AppendedMessage>? Messages, ApiError? Error)> AppendAsync(IServiceProvider services, Actor actor,
        string ns, string dialogueId, IReadOnlyList<MessageInput> inputs, CancellationToken ct)
    {
        if (FirstDuplicateId(inputs) is { } duplicate)
        {
            return (null, ApiErrors.DuplicateId(duplicate));
        }

        var result = batches is null
            ? await AppendWithContextAsync(services.GetRequiredService<DialogueDbContext>(), actor, ns, dialogueId, inputs, ct)
            // Replayable: the append writes only inside its one transaction, and nudges the relay after the commit.
            : await replay.RunAsync(attempt => AppendInBatchAsync(batches, actor, ns, dialogueId, inputs, attempt), ct);
        if (result.Messages is not null)
        {
            audit.Nudge();
        }

        return result;
    }

    /// <summary>The first client id that appears twice in one request, or null.</summary>
    internal static string? FirstDuplicateId(IReadOnlyList<MessageInput> inputs)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var input in inputs)
        {
            if (input.Id is not null && !seen.Add(input.Id))
            {
                return input.Id;
            }
        }

        return null;
    }

    /// <summary>The rows to store (ids given, content encrypted); their timestamps are set by <see cref="Stamp"/>.</summary>
    private List<AppendedMessage> Prepare(string ns, string dialogueId, IReadOnlyList<MessageInput> inputs) =>
        [.. inputs.Select(input => new AppendedMessage(input.ToRow(ns, dialogueId, 0, 0, time, protector), input.Content, input.Name))];

    /// <summary>Sets each message's timestamps (the client's <c>created</c>, else <paramref name="stamp"/>); returns the latest.</summary>
    private static long Stamp(List<AppendedMessage> messages, IReadOnlyList<MessageInput> inputs, long stamp)
    {
        var latest = long.MinValue;
        for (var i = 0; i < messages.Count; i++)
        {
            var row = messages[i].Row;
            row.Created = inputs[i].Created ?? stamp;
            row.Modified = stamp;
            latest = Math.Max(latest, row.Created);
        }

        return latest;
    }

    private List<SealedEvent> Events(Actor actor, string ns, List<AppendedMessage> messages) =>
        [.. messages.Select(m => audit.Seal(actor, EventType, "message", ns, m.Row.Id, w => MessageJson.Write(w, m.Row, m.Content, m.Name)))];
}
