using System.Globalization;

namespace DialogueDb.Service.Api;

/// <summary>The list parameters of contract §2: limit, order, next, created | startDate/endDate.</summary>
internal sealed record ListQuery(int Limit, bool Descending, Cursor? After, long? CreatedFrom, long? CreatedBefore)
{
    public const int DefaultLimit = 20;
    public const int MaxLimit = 100;

    public static readonly string[] Parameters = ["limit", "order", "next", "created", "startDate", "endDate", "namespace"];

    public static (ListQuery? Query, ApiError? Error) Parse(IQueryCollection query, bool descendingByDefault)
    {
        var rules = new InputRules();
        var limit = DefaultLimit;
        if (query.TryGetValue("limit", out var limitText))
        {
            if (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > MaxLimit)
            {
                rules.Invalid("limit", $"must be an integer from 1 to {MaxLimit}");
            }
        }

        var descending = descendingByDefault;
        if (query.TryGetValue("order", out var order))
        {
            switch (order.ToString())
            {
                case "asc": descending = false; break;
                case "desc": descending = true; break;
                default: rules.Invalid("order", "must be 'asc' or 'desc'"); break;
            }
        }

        Cursor? after = null;
        if (query.TryGetValue("next", out var next) && !string.IsNullOrEmpty(next))
        {
            if (!Cursor.TryDecode(next.ToString(), out var cursor))
            {
                rules.Invalid("next", "is not a cursor returned by this list");
            }
            else
            {
                after = cursor;
            }
        }

        long? from = null;
        long? before = null;
        if (query.TryGetValue("created", out var created))
        {
            if (query.ContainsKey("startDate") || query.ContainsKey("endDate"))
            {
                rules.Invalid("created", "cannot be combined with startDate or endDate");
            }
            else if (Timestamps.TryParsePrefix(created.ToString(), out var start, out var end))
            {
                (from, before) = (start, end);
            }
            else
            {
                rules.Invalid("created", "must be a date prefix such as 2026, 2026-06 or 2026-06-01");
            }
        }

        if (query.TryGetValue("startDate", out var startText))
        {
            if (Timestamps.TryParse(startText, out var start))
            {
                from = start;
            }
            else
            {
                rules.Invalid("startDate", "must be an ISO 8601 date or date-time");
            }
        }

        if (query.TryGetValue("endDate", out var endText))
        {
            if (Timestamps.TryParse(endText, out var end))
            {
                before = end;
            }
            else
            {
                rules.Invalid("endDate", "must be an ISO 8601 date or date-time");
            }
        }

        if (after is { } c && c.Descending != descending)
        {
            rules.Invalid("next", "was issued for the other order; repeat the same order with the cursor");
        }

        return rules.HasErrors ? (null, rules.ToError()) : (new ListQuery(limit, descending, after, from, before), null);
    }
}
