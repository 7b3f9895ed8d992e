namespace DialogueDb.Service.Api.Search;

/// <summary>A resolved time filter: Unix milliseconds, lower bound inclusive, upper bound exclusive; null = open.</summary>
internal sealed record DateRange(long? From, long? Until)
{
    public bool Contains(long value) => (From is not { } from || value >= from) && (Until is not { } until || value < until);

    public static DateRange Intersect(DateRange a, DateRange b) => new(
        a.From is null ? b.From : b.From is null ? a.From : Math.Max(a.From.Value, b.From.Value),
        a.Until is null ? b.Until : b.Until is null ? a.Until : Math.Min(a.Until.Value, b.Until.Value));
}
