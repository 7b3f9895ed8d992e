namespace DialogueDb.Service.Search;

/// <summary>
/// When an item the embedder failed for on its own is tried again: a cause that passes (an endpoint that refused an
/// input for a while, a model replaced by one that takes it) must not leave the item without vectors for good, and an
/// input that stays bad must cost little. The first retry follows 10 minutes after the first failure, each later wait
/// doubles, up to a day.
/// </summary>
internal static class EmbeddingRetrySchedule
{
    public static readonly TimeSpan First = TimeSpan.FromMinutes(10);
    public static readonly TimeSpan Longest = TimeSpan.FromHours(24);

    /// <summary>The wait after the <paramref name="attempts"/>-th failed attempt (1 for the first failure).</summary>
    public static TimeSpan After(int attempts) =>
        attempts >= 9 ? Longest : TimeSpan.FromTicks(Math.Min(First.Ticks << Math.Max(attempts - 1, 0), Longest.Ticks));
}
