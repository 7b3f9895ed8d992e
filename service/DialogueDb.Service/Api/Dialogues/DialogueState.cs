using System.Buffers;
using System.Text.Json;

namespace DialogueDb.Service.Api.Dialogues;

/// <summary>A dialogue's state: a JSON object of at most 1 MiB, replaced whole or shallow-merged (§4 "State").</summary>
internal static class DialogueState
{
    /// <summary>An optional state object (compact JSON); over 1 MiB is a 413.</summary>
    public static (string? State, ApiError? TooLarge) Parse(JsonElement obj, string name, InputRules rules)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return (null, null);
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            rules.Invalid(name, "must be a JSON object");
            return (null, null);
        }

        return ApiJson.CompactLength(value) > InputRules.MaxStateBytes
            ? (null, ApiErrors.PayloadTooLarge("state"))
            : (ApiJson.Compact(value), null);
    }

    /// <summary>Shallow merge: patch keys overwrite in place, new keys are appended, a null value removes the key.</summary>
    public static byte[] Merge(byte[] currentJson, JsonElement patch)
    {
        using var current = JsonDocument.Parse(currentJson);
        var buffer = new ArrayBufferWriter<byte>(currentJson.Length + 256);
        using (var w = new Utf8JsonWriter(buffer, ApiJson.WriterOptions))
        {
            w.WriteStartObject();
            foreach (var property in current.RootElement.EnumerateObject())
            {
                var value = property.Value;
                if (patch.TryGetProperty(property.Name, out var replacement))
                {
                    if (replacement.ValueKind == JsonValueKind.Null)
                    {
                        continue;
                    }

                    value = replacement;
                }

                w.WritePropertyName(property.Name);
                w.WriteRawValue(ApiJson.Compact(value), skipInputValidation: true);
            }

            foreach (var property in patch.EnumerateObject())
            {
                if (property.Value.ValueKind != JsonValueKind.Null && !current.RootElement.TryGetProperty(property.Name, out _))
                {
                    w.WritePropertyName(property.Name);
                    w.WriteRawValue(ApiJson.Compact(property.Value), skipInputValidation: true);
                }
            }

            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
