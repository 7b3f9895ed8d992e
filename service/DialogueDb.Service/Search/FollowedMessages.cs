namespace DialogueDb.Service.Search;

/// <summary>A new message to index, with when it was written (the vectors' lag counts from then).</summary>
internal sealed record FollowedMessage(string Namespace, SearchDocument Document, long Created);

/// <summary>
/// A batch of new messages (<see cref="Read"/> rows, the readable ones in <see cref="Items"/>), where the cursor goes once
/// they are indexed, and whether more may be waiting.
/// </summary>
internal sealed record FollowedMessages(IReadOnlyList<FollowedMessage> Items, int Read, long NextXid, bool Full)
{
    public static readonly FollowedMessages None = new([], 0, 0, false);
}
