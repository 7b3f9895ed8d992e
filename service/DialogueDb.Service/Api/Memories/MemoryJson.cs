using System.Text.Json;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;

namespace DialogueDb.Service.Api.Memories;

internal static class MemoryJson
{
    /// <summary>The memory object of §6.</summary>
    public static void Write(Utf8JsonWriter w, MemoryRow m, ContentProtector protector)
    {
        w.WriteStartObject();
        w.WriteString("id", m.Id);
        w.WritePropertyName("value");
        w.WriteRawValue(protector.Decrypt(m.Value, RowIdentity.MemoryValue(m.Namespace, m.Id)), skipInputValidation: true);
        w.WriteString("type", m.Type);
        w.WriteString("term", m.Term);
        w.WriteRaw("tags", m.Tags);
        w.WriteRaw("metadata", m.Metadata);
        w.WriteString("created", Timestamps.Format(m.Created));
        w.WriteString("modified", Timestamps.Format(m.Modified));
        w.WriteNamespace(m.Namespace);
        w.WriteOptional("label", protector.DecryptText(m.Label, RowIdentity.MemoryLabel(m.Namespace, m.Id)));
        w.WriteOptional("description", protector.DecryptText(m.Description, RowIdentity.MemoryDescription(m.Namespace, m.Id)));
        w.WriteEndObject();
    }
}
