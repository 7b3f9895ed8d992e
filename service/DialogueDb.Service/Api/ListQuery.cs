using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace DialogueDb.Service.Api;

/// <summary>A keyset position: the sort key of the last item of the previous page.</summary>
internal readonly record struct Cursor(bool Descending, long Key, string Id)
{
    private const string Version = "1";

    /// <summary>Opaque to clients: base64url of "1|a|d, key, id".</summary>
    public string Encode() =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes(
            string.Create(CultureInfo.InvariantCulture, $"{Version}|{(Descending ? 'd' : 'a')}|{Key}|{Id}")));

    public static bool TryDecode(string text, out Cursor cursor)
    {
        cursor = default;
        if (text.Length > 512)
        {
            return false;
        }

        string decoded;
        try
        {
            decoded = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(text));
        }
        catch (FormatException)
        {
            return false;
        }

        var parts = decoded.Split('|');
        if (parts.Length != 4 || parts[0] != Version || parts[1] is not ("a" or "d")
            || !long.TryParse(parts[2], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var key)
            || (parts[3].Length > 0 && !InputRules.IsValidId(parts[3])))
        {
            return false;
        }

        cursor = new Cursor(parts[1] == "d", key, parts[3]);
        return true;
    }
}

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

/// <summary>Keyset pages: a page costs the same at any depth, and stays stable while rows are added.</summary>
internal static class Pages
{
    /// <summary>One page over (created, id), plus one extra row to learn whether another page follows.</summary>
    public static IQueryable<T> ByCreated<T>(IQueryable<T> rows, ListQuery query) where T : class, Storage.ICreatedRow
    {
        if (query.CreatedFrom is { } from)
        {
            rows = rows.Where(r => r.Created >= from);
        }

        if (query.CreatedBefore is { } before)
        {
            rows = rows.Where(r => r.Created < before);
        }

        if (query.After is { } after)
        {
            rows = query.Descending
                ? rows.Where(r => r.Created < after.Key || (r.Created == after.Key && string.Compare(r.Id, after.Id) < 0))
                : rows.Where(r => r.Created > after.Key || (r.Created == after.Key && string.Compare(r.Id, after.Id) > 0));
        }

        rows = query.Descending
            ? rows.OrderByDescending(r => r.Created).ThenByDescending(r => r.Id)
            : rows.OrderBy(r => r.Created).ThenBy(r => r.Id);
        return rows.Take(query.Limit + 1);
    }

    /// <summary>Writes <c>{"items": [...], "next": cursor|null}</c> from a page fetched with one extra row.</summary>
    public static void Write<T>(System.Text.Json.Utf8JsonWriter w, List<T> page, ListQuery query, Func<T, Cursor> cursorOf, Action<T> writeItem)
    {
        var more = page.Count > query.Limit;
        var count = more ? query.Limit : page.Count;
        w.WriteStartObject();
        w.WriteStartArray("items");
        for (var i = 0; i < count; i++)
        {
            writeItem(page[i]);
        }

        w.WriteEndArray();
        if (more)
        {
            w.WriteString("next", cursorOf(page[count - 1]).Encode());
        }
        else
        {
            w.WriteNull("next");
        }

        w.WriteEndObject();
    }
}

/// <summary>Where a request's namespace comes from (§2): the query string first, else the JSON body; none is the default ("").</summary>
internal static class Namespaces
{
    public const string Default = "";

    public static (string Namespace, ApiError? Error) Resolve(HttpRequest request, RequestBody? body = null)
    {
        if (request.Query.TryGetValue("namespace", out var fromQuery))
        {
            return Check(fromQuery.ToString());
        }

        if (body is not null && body.TryGetObject(out var obj) && obj.TryGetProperty("namespace", out var fromBody)
            && fromBody.ValueKind != System.Text.Json.JsonValueKind.Null)
        {
            return fromBody.ValueKind == System.Text.Json.JsonValueKind.String
                ? Check(fromBody.GetString()!)
                : (Default, ApiErrors.Invalid("namespace", "must be a string"));
        }

        return (Default, null);
    }

    private static (string, ApiError?) Check(string ns) =>
        ns.Length == 0 ? (Default, null)
        : InputRules.IsValidId(ns) ? (ns, null)
        : (Default, ApiErrors.Invalid("namespace", InputRules.IdRule));
}

/// <summary>Rejects query parameters a route does not know (§2: unknown query parameters → 400).</summary>
internal sealed class KnownQueryFilter(string[] allowed) : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        foreach (var key in context.HttpContext.Request.Query.Keys)
        {
            if (!allowed.Contains(key, StringComparer.Ordinal))
            {
                var shown = key.Length <= 64 ? key : key[..64];
                return ValueTask.FromResult<object?>(ApiErrors.Invalid(shown, "unknown query parameter"));
            }
        }

        return next(context);
    }
}

internal static class KnownQueryExtensions
{
    /// <summary>The route's request checks, in order: unknown query parameters, then the bound <see cref="ApiRequest"/>.</summary>
    public static RouteHandlerBuilder WithQuery(this RouteHandlerBuilder builder, params string[] allowed) =>
        builder.AddEndpointFilter(new KnownQueryFilter(allowed)).AddEndpointFilter(new ApiRequestFilter());
}
