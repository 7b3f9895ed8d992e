namespace DialogueDb.Service.Search;

/// <summary>A new message to index, with when it was written (the vectors' lag counts from then).</summary>
internal sealed record FollowedMessage(string Namespace, SearchDocument Document, long Created);

/// <summary>
/// The new messages of a window of transactions (<see cref="Read"/> rows, the readable ones in <see cref="Items"/>), where
/// the cursor goes once they are indexed (0: nowhere, nothing was read), and whether ended transactions past the window wait.
/// </summary>
internal sealed record FollowedMessages(IReadOnlyList<FollowedMessage> Items, int Read, long NextXid, bool More)
{
    public static readonly FollowedMessages None = new([], 0, 0, false);
}
