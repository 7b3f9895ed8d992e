using System.Text;
using System.Text.Json;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;

namespace DialogueDb.Service.Api.Messages;

internal static class MessageJson
{
    /// <summary>The message object of §5.</summary>
    public static void Write(Utf8JsonWriter w, MessageRow m, ContentProtector protector) =>
        Write(w, m, protector.Decrypt(m.Content, RowIdentity.MessageContent(m.Namespace, m.DialogueId, m.Id)),
            protector.DecryptText(m.Name, RowIdentity.MessageName(m.Namespace, m.DialogueId, m.Id)));

    /// <summary>The message object with its content and name given as plaintext (a message just written: no decryption).</summary>
    public static void Write(Utf8JsonWriter w, MessageRow m, string contentJson, string? name) =>
        Write(w, m, Encoding.UTF8.GetBytes(contentJson), name);

    private static void Write(Utf8JsonWriter w, MessageRow m, ReadOnlySpan<byte> contentJson, string? name)
    {
        w.WriteStartObject();
        w.WriteString("id", m.Id);
        w.WriteString("dialogueId", m.DialogueId);
        w.WriteNamespace(m.Namespace);
        w.WriteString("role", m.Role);
        w.WritePropertyName("content");
        w.WriteRawValue(contentJson, skipInputValidation: true);
        w.WriteNumber("contentLength", m.ContentLength);
        w.WriteOptional("name", name);
        w.WriteString("created", Timestamps.Format(m.Created));
        w.WriteString("modified", Timestamps.Format(m.Modified));
        w.WriteRaw("metadata", m.Metadata);
        w.WriteRaw("tags", m.Tags);
        w.WriteEndObject();
    }
}
