namespace DialogueDb.Service.Api;

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
