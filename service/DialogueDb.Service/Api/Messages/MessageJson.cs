using System.Text.Json;
using DialogueDb.Service.Storage;

namespace DialogueDb.Service.Api.Messages;

internal static class MessageJson
{
    /// <summary>The message object of §5.</summary>
    public static void Write(Utf8JsonWriter w, MessageRow m)
    {
        w.WriteStartObject();
        w.WriteString("id", m.Id);
        w.WriteString("dialogueId", m.DialogueId);
        w.WriteNamespace(m.Namespace);
        w.WriteString("role", m.Role);
        w.WriteRaw("content", m.Content);
        w.WriteNumber("contentLength", m.ContentLength);
        w.WriteOptional("name", m.Name);
        w.WriteString("created", Timestamps.Format(m.Created));
        w.WriteString("modified", Timestamps.Format(m.Modified));
        w.WriteRaw("metadata", m.Metadata);
        w.WriteRaw("tags", m.Tags);
        w.WriteEndObject();
    }
}
