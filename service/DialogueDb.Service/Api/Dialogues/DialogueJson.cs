using System.Text.Json;
using DialogueDb.Service.Api.Messages;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;

namespace DialogueDb.Service.Api.Dialogues;

internal static class DialogueJson
{
    /// <summary>
    /// The dialogue object of §4. The state is written (decrypted) unless <paramref name="withState"/> is false (lists);
    /// <paramref name="messages"/> on create.
    /// </summary>
    public static void Write(Utf8JsonWriter w, DialogueRow d, string projectId, string? requestId, ContentProtector protector,
        IReadOnlyList<MessageRow>? messages = null, bool withState = true)
    {
        w.WriteStartObject();
        w.WriteString("id", d.Id);
        w.WriteString("projectId", projectId);
        w.WriteOptional("requestId", requestId);
        w.WriteString("status", d.Status);
        w.WriteRaw("tags", d.Tags);
        w.WriteRaw("metadata", d.Metadata);
        w.WriteString("created", Timestamps.Format(d.Created));
        w.WriteString("modified", Timestamps.Format(d.Modified));
        w.WriteNamespace(d.Namespace);
        w.WriteOptional("threadOf", d.ThreadOf);
        w.WriteOptional("label", protector.DecryptText(d.Label, RowIdentity.DialogueLabel(d.Namespace, d.Id)));
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
            w.WritePropertyName("state");
            w.WriteRawValue(protector.Decrypt(d.State, RowIdentity.DialogueState(d.Namespace, d.Id)), skipInputValidation: true);
        }

        if (messages is not null)
        {
            w.WriteStartArray("messages");
            foreach (var message in messages)
            {
                MessageJson.Write(w, message, protector);
            }

            w.WriteEndArray();
        }

        w.WriteEndObject();
    }
}
