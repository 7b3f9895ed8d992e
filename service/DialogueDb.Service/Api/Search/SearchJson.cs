using System.Text.Json;
using DialogueDb.Service.Api.Dialogues;
using DialogueDb.Service.Api.Memories;
using DialogueDb.Service.Api.Messages;
using DialogueDb.Service.Security;

namespace DialogueDb.Service.Api.Search;

internal static class SearchJson
{
    /// <summary>
    /// <c>{"results": [{object, relevance, item, matches?}], "items": [...], "request": {orderBy, order, candidateOrderBy,
    /// mode, filter}}</c>; items are written exactly as their GET routes write them.
    /// </summary>
    public static void Write(Utf8JsonWriter w, IReadOnlyList<SearchHit> hits, SearchRequest request, string projectId, string requestId,
        ContentProtector protector)
    {
        w.WriteStartObject();
        w.WriteStartArray("results");
        foreach (var hit in hits)
        {
            w.WriteStartObject();
            w.WriteString("object", request.Object);
            w.WriteNumber("relevance", Math.Round(hit.Relevance, 6));
            w.WritePropertyName("item");
            WriteItem(w, hit, projectId, requestId, protector);
            if (hit.Matches is { } matches)
            {
                w.WriteStartArray("matches");
                foreach (var message in matches)
                {
                    MessageJson.Write(w, message, protector);
                }

                w.WriteEndArray();
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartArray("items");
        foreach (var hit in hits)
        {
            WriteItem(w, hit, projectId, requestId, protector);
        }

        w.WriteEndArray();
        w.WriteStartObject("request");
        w.WriteString("orderBy", request.OrderBy);
        w.WriteString("order", request.Descending ? "desc" : "asc");
        w.WriteString("candidateOrderBy", "relevance");
        w.WriteString("mode", request.Mode);
        w.WriteStartObject("filter");
        WriteRange(w, "created", request.Created);
        WriteRange(w, "modified", request.Modified);
        if (request.HasImage is { } image)
        {
            w.WriteBoolean("hasImage", image);
        }

        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteItem(Utf8JsonWriter w, SearchHit hit, string projectId, string requestId, ContentProtector protector)
    {
        if (hit.Memory is { } memory)
        {
            MemoryJson.Write(w, memory, protector);
        }
        else if (hit.Message is { } message)
        {
            MessageJson.Write(w, message, protector);
        }
        else
        {
            DialogueJson.Write(w, hit.Dialogue!, projectId, requestId, protector);
        }
    }

    private static void WriteRange(Utf8JsonWriter w, string name, DateRange? range)
    {
        if (range is null)
        {
            return;
        }

        w.WriteStartObject(name);
        if (range.From is { } from)
        {
            w.WriteString("gte", Timestamps.Format(from));
        }

        if (range.Until is { } until)
        {
            w.WriteString("lt", Timestamps.Format(until));
        }

        w.WriteEndObject();
    }
}
