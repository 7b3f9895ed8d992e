using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using DialogueDb.Service.Api;

namespace DialogueDb.Service.Audit;

/// <summary>
/// Seals the item of a published audit event (the only field that carries content) under the project's event key,
/// so the Redis stream, its append-only file and the embedded events file hold no plaintext. The sealed event keeps
/// every other field in the clear and gains <c>keyId</c>; <c>item</c> becomes the base64 of
/// <c>nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)</c>, AES-256-GCM, associated data the UTF-8 bytes of the
/// <c>eventId</c> (an item moved into another event does not open). An event without an item is left as it is.
/// </summary>
internal sealed class EventSealer(Func<EventKeyRing> keys)
{
    public const int NonceSize = 12;
    public const int TagSize = 16;

    /// <summary>The event JSON (contract §9, item in the clear) with its item sealed.</summary>
    public byte[] Seal(ReadOnlySpan<byte> eventJson)
    {
        using var document = JsonDocument.Parse(eventJson.ToArray());
        var root = document.RootElement;
        if (!root.TryGetProperty("item", out var item) || item.ValueKind == JsonValueKind.Null || root.TryGetProperty("keyId", out _))
        {
            return eventJson.ToArray();
        }

        var ring = keys();
        var eventId = root.GetProperty("eventId").GetString()!;
        var plaintext = Encoding.UTF8.GetBytes(item.GetRawText());
        var sealedItem = new byte[NonceSize + plaintext.Length + TagSize];
        var nonce = sealedItem.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using (var aes = new AesGcm(ring.ActiveKey, TagSize))
        {
            aes.Encrypt(nonce, plaintext, sealedItem.AsSpan(NonceSize, plaintext.Length), sealedItem.AsSpan(NonceSize + plaintext.Length),
                Encoding.UTF8.GetBytes(eventId));
        }

        CryptographicOperations.ZeroMemory(plaintext);
        return Rewrite(root, w =>
        {
            w.WriteString("keyId", ring.ActiveKeyId);
            w.WriteString("item", Convert.ToBase64String(sealedItem));
        });
    }

    /// <summary>
    /// The event with its item opened, or null when the key is not in <paramref name="ring"/> (or the event was
    /// tampered with); an event that was never sealed is returned as it is.
    /// </summary>
    public static byte[]? Open(ReadOnlySpan<byte> sealedJson, EventKeyRing ring)
    {
        using var document = JsonDocument.Parse(sealedJson.ToArray());
        var root = document.RootElement;
        if (!root.TryGetProperty("keyId", out var keyId) || !root.TryGetProperty("item", out var item) || item.ValueKind != JsonValueKind.String)
        {
            return sealedJson.ToArray();
        }

        if (ring.Find(keyId.GetString() ?? "") is not { } key)
        {
            return null;
        }

        var sealedItem = Convert.FromBase64String(item.GetString()!);
        if (sealedItem.Length < NonceSize + TagSize)
        {
            return null;
        }

        var length = sealedItem.Length - NonceSize - TagSize;
        var plaintext = new byte[length];
        try
        {
            using var aes = new AesGcm(key, TagSize);
            aes.Decrypt(sealedItem.AsSpan(0, NonceSize), sealedItem.AsSpan(NonceSize, length), sealedItem.AsSpan(NonceSize + length),
                plaintext, Encoding.UTF8.GetBytes(root.GetProperty("eventId").GetString()!));
        }
        catch (AuthenticationTagMismatchException)
        {
            return null;
        }

        return Rewrite(root, w =>
        {
            w.WritePropertyName("item");
            w.WriteRawValue(plaintext, skipInputValidation: true);
        });
    }

    /// <summary>The event's fields in order with <c>keyId</c> and <c>item</c> replaced by what <paramref name="writeItem"/> writes.</summary>
    private static byte[] Rewrite(JsonElement root, Action<Utf8JsonWriter> writeItem)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer, ApiJson.WriterOptions))
        {
            w.WriteStartObject();
            foreach (var property in root.EnumerateObject())
            {
                if (property.NameEquals("keyId"))
                {
                    continue;
                }

                if (property.NameEquals("item"))
                {
                    writeItem(w);
                    continue;
                }

                property.WriteTo(w);
            }

            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
