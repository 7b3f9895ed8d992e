using System.Runtime.InteropServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace DialogueDb.Service.Api;

/// <summary>JSON helpers shared by every route: writing answers, compacting stored client JSON.</summary>
internal static class ApiJson
{
    /// <summary>Non-ASCII text is written as UTF-8, not \u escapes, so stored content round-trips unchanged.</summary>
    public static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 64 };

    /// <summary>
    /// The UTF-8 length of <see cref="Compact"/>'s text, counted without building it: a value over its limit is refused
    /// without another copy of a body that may be 36 MiB (and twice that as a string).
    /// </summary>
    public static int CompactLength(JsonElement element) => CompactBytes(JsonMarshal.GetRawUtf8Value(element), output: null);

    /// <summary>
    /// The element's JSON text with insignificant whitespace removed and every token kept byte for byte
    /// (property order, number spelling and string escapes are the client's).
    /// </summary>
    public static string Compact(JsonElement element)
    {
        var raw = JsonMarshal.GetRawUtf8Value(element);
        var buffer = new byte[raw.Length];
        return Encoding.UTF8.GetString(buffer, 0, CompactBytes(raw, buffer));
    }

    /// <summary>Drops whitespace outside strings; writes the kept bytes into <paramref name="output"/> when given; returns their count.</summary>
    private static int CompactBytes(ReadOnlySpan<byte> raw, byte[]? output)
    {
        var length = 0;
        var inString = false;
        var escaped = false;
        foreach (var b in raw)
        {
            if (inString)
            {
                Keep(b);
                if (escaped)
                {
                    escaped = false;
                }
                else if (b == (byte)'\\')
                {
                    escaped = true;
                }
                else if (b == (byte)'"')
                {
                    inString = false;
                }
            }
            else if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
            {
                Keep(b);
                inString = b == (byte)'"';
            }
        }

        return length;

        void Keep(byte b)
        {
            if (output is not null)
            {
                output[length] = b;
            }

            length++;
        }
    }

    /// <summary>Writes stored JSON text (already validated when it was accepted) as a property value.</summary>
    public static void WriteRaw(this Utf8JsonWriter writer, string propertyName, string json)
    {
        writer.WritePropertyName(propertyName);
        writer.WriteRawValue(json, skipInputValidation: true);
    }

    public static void WriteOptional(this Utf8JsonWriter writer, string propertyName, string? value)
    {
        if (value is not null)
        {
            writer.WriteString(propertyName, value);
        }
    }

    /// <summary>The default namespace is stored as "" and left out of answers.</summary>
    public static void WriteNamespace(this Utf8JsonWriter writer, string ns)
    {
        if (ns.Length > 0)
        {
            writer.WriteString("namespace", ns);
        }
    }
}
