using System.Text;
using System.Text.Json;

namespace DialogueDb.Service.Api;

/// <summary>
/// The validation rules of contract §2–§6, collecting every failure of a request so they can be reported together.
/// Each method returns the accepted value (normalised for storage) or null/default when absent or invalid.
/// </summary>
internal sealed class InputRules
{
    public const int MaxIdLength = 128;
    public const int MaxTags = 10;
    public const int MaxTagLength = 64;
    public const int MaxMetadataKeys = 50;
    public const int MaxMetadataKeyLength = 64;
    public const int MaxMetadataBytes = 16 * 1024;
    public const int MaxContentBytes = 1024 * 1024;
    public const int MaxStateBytes = 1024 * 1024;
    public const int MaxLabelLength = 256;
    public const int MaxDescriptionLength = 4096;
    public const int MaxRoleLength = 64;
    public const int MaxNameLength = 256;

    private readonly List<FieldError> _errors = [];

    public bool HasErrors => _errors.Count > 0 || Fatal is not null;

    public int ErrorCount => _errors.Count + (Fatal is null ? 0 : 1);

    /// <summary>An error with its own code (e.g. INVALID_IMAGE_CONTENT) that is reported instead of the list.</summary>
    public ApiError? Fatal { get; set; }

    public ApiError ToError() => Fatal ?? ApiErrors.Validation(_errors);

    public void Missing(string field) => _errors.Add(new FieldError(field, ApiErrors.MissingParameter, $"{field} is required"));

    public void Invalid(string field, string reason) => _errors.Add(new FieldError(field, ApiErrors.InvalidParameter, reason));

    /// <summary>Ids and namespaces: 1–128 chars of [A-Za-z0-9._:@-].</summary>
    public static bool IsValidId(ReadOnlySpan<char> value)
    {
        if (value.Length is 0 or > MaxIdLength)
        {
            return false;
        }

        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or ':' or '@' or '-'))
            {
                return false;
            }
        }

        return true;
    }

    public const string IdRule = "must be 1-128 characters of A-Z a-z 0-9 . _ : @ -";

    public static bool Has(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Undefined;

    /// <summary>
    /// True when an update sends an immutable field with a value other than the stored one (→ 409 IMMUTABLE_FIELD).
    /// Sending the unchanged value is accepted: the SDK's save() echoes metadata back.
    /// </summary>
    public static bool Changes(JsonElement obj, string name, string storedJson)
    {
        if (!obj.TryGetProperty(name, out var value))
        {
            return false;
        }

        using var stored = JsonDocument.Parse(storedJson);
        return !JsonElement.DeepEquals(value, stored.RootElement);
    }

    /// <summary>An optional client id (absent or null → null).</summary>
    public string? Id(JsonElement obj, string name, string path)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String || !IsValidId(value.GetString()))
        {
            Invalid(path, IdRule);
            return null;
        }

        return value.GetString();
    }

    /// <summary>An optional string of bounded length; null when absent or JSON null.</summary>
    public string? Text(JsonElement obj, string name, string path, int maxLength, bool allowEmpty = false)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            Invalid(path, "must be a string");
            return null;
        }

        var text = value.GetString()!;
        if (text.Length == 0 && !allowEmpty)
        {
            Invalid(path, "must not be empty");
            return null;
        }

        if (text.Length > maxLength)
        {
            Invalid(path, $"must be at most {maxLength} characters");
            return null;
        }

        // PostgreSQL text cannot hold U+0000 (SQLite can): refused on both engines so both answer the same.
        if (text.Contains('\0', StringComparison.Ordinal))
        {
            Invalid(path, "must not contain the NUL character (U+0000)");
            return null;
        }

        return text;
    }

    /// <summary>An optional ISO 8601 timestamp, as Unix milliseconds.</summary>
    public long? Timestamp(JsonElement obj, string name, string path)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String || !Timestamps.TryParse(value.GetString(), out var ms))
        {
            Invalid(path, "must be an ISO 8601 date-time");
            return null;
        }

        return ms;
    }

    /// <summary>Tags: at most 10 strings of 1–64 chars; returned as a JSON array text.</summary>
    public string? Tags(JsonElement obj, string name, string path)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Array)
        {
            Invalid(path, "must be an array of strings");
            return null;
        }

        if (value.GetArrayLength() > MaxTags)
        {
            Invalid(path, $"must have at most {MaxTags} tags");
            return null;
        }

        foreach (var tag in value.EnumerateArray())
        {
            if (tag.ValueKind != JsonValueKind.String || tag.GetString() is not { Length: > 0 and <= MaxTagLength })
            {
                Invalid(path, $"each tag must be a string of 1-{MaxTagLength} characters");
                return null;
            }
        }

        return ApiJson.Compact(value);
    }

    /// <summary>Metadata: a flat object (string, number, boolean or string-array values), ≤ 50 keys, ≤ 16 KiB.</summary>
    public string? Metadata(JsonElement obj, string name, string path)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            Invalid(path, "must be a flat JSON object");
            return null;
        }

        var count = 0;
        foreach (var property in value.EnumerateObject())
        {
            count++;
            if (property.Name.Length is 0 or > MaxMetadataKeyLength)
            {
                Invalid(path, $"keys must be 1-{MaxMetadataKeyLength} characters");
                return null;
            }

            var ok = property.Value.ValueKind switch
            {
                JsonValueKind.String or JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => true,
                JsonValueKind.Array => property.Value.EnumerateArray().All(v => v.ValueKind == JsonValueKind.String),
                _ => false,
            };
            if (!ok)
            {
                Invalid($"{path}.{property.Name}", "values must be a string, number, boolean or array of strings");
                return null;
            }
        }

        if (count > MaxMetadataKeys)
        {
            Invalid(path, $"must have at most {MaxMetadataKeys} keys");
            return null;
        }

        var compact = ApiJson.Compact(value);
        if (Encoding.UTF8.GetByteCount(compact) > MaxMetadataBytes)
        {
            Invalid(path, $"must be at most {MaxMetadataBytes} bytes serialised");
            return null;
        }

        return compact;
    }

    /// <summary>Memory term: short or long.</summary>
    public string? Term(JsonElement obj, string path)
    {
        var term = Text(obj, "term", path, 16);
        if (term is not null and not ("short" or "long"))
        {
            Invalid(path, "must be 'short' or 'long'");
            return null;
        }

        return term;
    }
}
