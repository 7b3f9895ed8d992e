using System.Text.Json;
using DialogueDb.Service.Api.Messages;
using DialogueDb.Service.Storage;

namespace DialogueDb.Service.Api.Dialogues;

internal static class DialogueJson
{
    /// <summary>The dialogue object of §4; <paramref name="withState"/> on get/create/update, <paramref name="messages"/> on create.</summary>
    public static void Write(Utf8JsonWriter w, DialogueRow d, string projectId, string requestId, bool withState,
        IReadOnlyList<MessageRow>? messages = null)
    {
        w.WriteStartObject();
        w.WriteString("id", d.Id);
        w.WriteString("projectId", projectId);
        w.WriteString("requestId", requestId);
        w.WriteString("status", d.Status);
        w.WriteRaw("tags", d.Tags);
        w.WriteRaw("metadata", d.Metadata);
        w.WriteString("created", Timestamps.Format(d.Created));
        w.WriteString("modified", Timestamps.Format(d.Modified));
        w.WriteNamespace(d.Namespace);
        w.WriteOptional("threadOf", d.ThreadOf);
        w.WriteOptional("label", d.Label);
        w.WriteNumber("totalMessages", d.TotalMessages);
        w.WriteNumber("threadCount", d.ThreadCount);
        if (d.LastMessageCreated is { } last)
        {
            w.WriteString("lastMessageCreated", Timestamps.Format(last));
        }

        if (d.EndedAt is { } ended)
        {
            w.WriteString("endedAt", Timestamps.Format(ended));
        }

        if (withState)
        {
            w.WriteRaw("state", d.State);
        }

        if (messages is not null)
        {
            w.WriteStartArray("messages");
            foreach (var message in messages)
            {
                MessageJson.Write(w, message);
            }

            w.WriteEndArray();
        }

        w.WriteEndObject();
    }
}
