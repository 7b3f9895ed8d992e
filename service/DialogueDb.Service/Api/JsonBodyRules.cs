using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Unicode;

namespace DialogueDb.Service.Api;

/// <summary>
/// What every request body must satisfy before any handler reads it, checked once where the body is parsed:
/// every string (values and property names, at any depth) decodes to valid UTF-16 — a lone surrogate escape
/// (<c>"\ud800"</c>) or invalid UTF-8 bytes cannot be stored, compared or echoed — and no object names a property twice
/// (which of the two a reader takes is ambiguous). The first failure is a 400 naming its field.
/// </summary>
internal static class JsonBodyRules
{
    private const string Undecodable = "must be valid Unicode text (no lone surrogates or invalid UTF-8)";

    /// <summary>The error for the first field of <paramref name="root"/> that breaks a rule; null when none does.</summary>
    public static ApiError? Check(JsonElement root) => FirstFailure(root, "");

    private static ApiError? FirstFailure(JsonElement element, string path)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                return Decodes(element) ? null : ApiErrors.Invalid(Field(path), Undecodable);
            case JsonValueKind.Array:
                var index = 0;
                foreach (var item in element.EnumerateArray())
                {
                    if (FirstFailure(item, $"{path}[{index++}]") is { } inItem)
                    {
                        return inItem;
                    }
                }

                return null;
            case JsonValueKind.Object:
                var names = new HashSet<string>(StringComparer.Ordinal);
                foreach (var property in element.EnumerateObject())
                {
                    if (!TryName(property, out var name))
                    {
                        return ApiErrors.Invalid(Field(path), "property names " + Undecodable);
                    }

                    var child = path.Length == 0 ? name : $"{path}.{name}";
                    if (!names.Add(name))
                    {
                        return ApiErrors.Invalid(child, "is given more than once");
                    }

                    if (FirstFailure(property.Value, child) is { } inValue)
                    {
                        return inValue;
                    }
                }

                return null;
            default:
                return null;
        }
    }

    private static string Field(string path) => path.Length == 0 ? "body" : path;

    // Checked on the raw bytes, without materialising the string (a 35 MiB value would cost 70 MiB of UTF-16): invalid
    // UTF-8 shows there; a lone surrogate can only come from a \u escape, so only strings with escapes are decoded,
    // and System.Text.Json reports text it cannot transcode as InvalidOperationException.
    private static bool Decodes(JsonElement value)
    {
        var raw = JsonMarshal.GetRawUtf8Value(value);
        if (!Utf8.IsValid(raw))
        {
            return false;
        }

        if (raw.IndexOf("\\u"u8) < 0)
        {
            return true;
        }

        try
        {
            _ = value.GetString();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static bool TryName(JsonProperty property, out string name)
    {
        try
        {
            name = property.Name;
            return true;
        }
        catch (InvalidOperationException)
        {
            name = "";
            return false;
        }
    }
}
