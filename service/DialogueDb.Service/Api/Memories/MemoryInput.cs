using System.Text.Json;

namespace DialogueDb.Service.Api.Memories;

/// <summary>A validated create-memory body (§6 "Create"): any JSON value of at most 1 MiB, with its label and tags.</summary>
internal sealed record MemoryInput(
    string? Id, string Value, string Type, string? Label, string? Description, string Tags, string Metadata, string Term)
{
    /// <summary>The input, or the field errors to answer.</summary>
    public static (MemoryInput? Input, ApiError? Error) Parse(JsonElement obj)
    {
        var rules = new InputRules();
        string? value = null;
        string? type = null;
        if (!obj.TryGetProperty("value", out var valueElement) || valueElement.ValueKind == JsonValueKind.Null)
        {
            rules.Missing("value");
        }
        else
        {
            value = ApiJson.CompactLength(valueElement) > InputRules.MaxContentBytes ? null : ApiJson.Compact(valueElement);
            type = TypeOf(valueElement);
            if (value is null)
            {
                rules.Invalid("value", $"must be at most {InputRules.MaxContentBytes} bytes serialised");
            }
        }

        var id = rules.Id(obj, "id", "id");
        var label = rules.Text(obj, "label", "label", InputRules.MaxLabelLength);
        var description = rules.Text(obj, "description", "description", InputRules.MaxDescriptionLength);
        var tags = rules.Tags(obj, "tags", "tags") ?? "[]";
        var metadata = rules.Metadata(obj, "metadata", "metadata") ?? "{}";
        var term = rules.Term(obj, "term") ?? "long";
        return rules.HasErrors
            ? (null, rules.ToError())
            : (new MemoryInput(id, value!, type!, label, description, tags, metadata, term), null);
    }

    /// <summary>The memory's <c>type</c> field: the JSON kind of its value.</summary>
    private static string TypeOf(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValueKind.Array => "array",
        _ => "object",
    };
}
