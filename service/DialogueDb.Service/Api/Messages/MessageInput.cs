using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;

namespace DialogueDb.Service.Api.Messages;

/// <summary>One validated message of a create request (§5 "Message input").</summary>
internal sealed record MessageInput(
    string? Id, string Role, string Content, int ContentLength, string? Name, long? Created, string Tags, string Metadata)
{
    /// <summary>Validates one message input; failures go to <paramref name="rules"/> under <paramref name="path"/>.</summary>
    public static MessageInput? Parse(JsonElement element, string path, InputRules rules)
    {
        var prefix = path.Length == 0 ? "" : path + ".";
        if (element.ValueKind != JsonValueKind.Object)
        {
            rules.Invalid(path.Length == 0 ? "body" : path, "must be a message object");
            return null;
        }

        var before = rules.ErrorCount;
        var id = rules.Id(element, "id", prefix + "id");
        string? role = null;
        if (!element.TryGetProperty("role", out var roleValue) || roleValue.ValueKind == JsonValueKind.Null
            || (roleValue.ValueKind == JsonValueKind.String && roleValue.GetString()!.Length == 0))
        {
            rules.Missing(prefix + "role");
        }
        else
        {
            role = rules.Text(element, "role", prefix + "role", InputRules.MaxRoleLength);
        }

        var (content, contentLength) = ParseContent(element, prefix + "content", rules);
        var name = rules.Text(element, "name", prefix + "name", InputRules.MaxNameLength);
        var created = rules.Timestamp(element, "created", prefix + "created");
        var tags = rules.Tags(element, "tags", prefix + "tags") ?? "[]";
        var metadata = rules.Metadata(element, "metadata", prefix + "metadata") ?? "{}";

        return rules.ErrorCount > before || role is null || content is null
            ? null
            : new MessageInput(id, role, content, contentLength, name, created, tags, metadata);
    }

    private static (string? Json, int Length) ParseContent(JsonElement message, string path, InputRules rules)
    {
        if (!message.TryGetProperty("content", out var content) || content.ValueKind == JsonValueKind.Null)
        {
            rules.Missing(path);
            return (null, 0);
        }

        switch (content.ValueKind)
        {
            case JsonValueKind.String:
            {
                // An escape takes at most 6 bytes for 1 decoded byte: a longer raw string cannot fit (and is not copied).
                if (JsonMarshal.GetRawUtf8Value(content).Length > 6 * InputRules.MaxContentBytes)
                {
                    rules.Invalid(path, $"must be at most {InputRules.MaxContentBytes} bytes");
                    return (null, 0);
                }

                var text = content.GetString()!;
                if (text.Length == 0)
                {
                    rules.Missing(path);
                    return (null, 0);
                }

                var length = Encoding.UTF8.GetByteCount(text);
                if (length > InputRules.MaxContentBytes)
                {
                    rules.Invalid(path, $"must be at most {InputRules.MaxContentBytes} bytes");
                    return (null, 0);
                }

                return (ApiJson.Compact(content), length);
            }

            case JsonValueKind.Object:
            case JsonValueKind.Array:
            {
                if (content.ValueKind == JsonValueKind.Array)
                {
                    if (content.GetArrayLength() == 0)
                    {
                        rules.Missing(path);
                        return (null, 0);
                    }

                    var index = 0;
                    foreach (var block in content.EnumerateArray())
                    {
                        if (block.ValueKind != JsonValueKind.Object)
                        {
                            rules.Invalid(path, $"content block {index} must be a JSON object");
                            return (null, 0);
                        }

                        CheckImage(block, path, rules);
                        index++;
                    }
                }
                else
                {
                    CheckImage(content, path, rules);
                }

                var length = ApiJson.CompactLength(content);
                if (length > InputRules.MaxContentBytes)
                {
                    rules.Invalid(path, $"must be at most {InputRules.MaxContentBytes} bytes serialised");
                    return (null, 0);
                }

                return (ApiJson.Compact(content), length);
            }

            default:
                rules.Invalid(path, "must be a non-empty string, a JSON object or a non-empty array of objects");
                return (null, 0);
        }
    }

    /// <summary>Anthropic image parts carry raw base64 in source.data; a data: URL there is rejected (§3).</summary>
    private static void CheckImage(JsonElement block, string path, InputRules rules)
    {
        if (block.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.ValueEquals("image")
            && block.TryGetProperty("source", out var source) && source.ValueKind == JsonValueKind.Object
            && source.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.String
            && data.GetString()!.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            rules.Fatal ??= ApiErrors.InvalidImage(path + ".source.data");
        }
    }

    public MessageRow ToRow(string ns, string dialogueId, long seq, long now, TimeProvider time, ContentProtector protector)
    {
        var id = Id ?? Ulid.NewUlid(time.GetUtcNow()).ToString();
        return new MessageRow
        {
            Namespace = ns,
            DialogueId = dialogueId,
            Seq = seq,
            Id = id,
            Role = Role,
            Name = protector.EncryptText(Name, RowIdentity.MessageName(ns, dialogueId, id)),
            Content = protector.Encrypt(Content, RowIdentity.MessageContent(ns, dialogueId, id)),
            ContentLength = ContentLength,
            Tags = Tags,
            Metadata = Metadata,
            Created = Created ?? now,
            Modified = now,
        };
    }
}
