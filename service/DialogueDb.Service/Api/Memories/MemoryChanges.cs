using System.Text.Json;

namespace DialogueDb.Service.Api.Memories;

/// <summary>
/// A validated update-memory body (§6 "Update"): tags, term, and a label or description (null removes one). The value
/// and metadata are immutable: <see cref="ChangesValue"/> and <see cref="ChangesMetadata"/> tell whether the body tries
/// to change the stored ones.
/// </summary>
internal sealed record MemoryChanges(
    string? Tags, bool SetsLabel, string? Label, bool SetsDescription, string? Description, string? Term, JsonElement Body)
{
    /// <summary>The changes, or the field errors to answer.</summary>
    public static (MemoryChanges? Changes, ApiError? Error) Parse(JsonElement obj)
    {
        var rules = new InputRules();
        var tags = rules.Tags(obj, "tags", "tags");
        var label = rules.Text(obj, "label", "label", InputRules.MaxLabelLength);
        var description = rules.Text(obj, "description", "description", InputRules.MaxDescriptionLength);
        var term = rules.Term(obj, "term");
        return rules.HasErrors
            ? (null, rules.ToError())
            : (new MemoryChanges(tags, obj.TryGetProperty("label", out _), label, obj.TryGetProperty("description", out _), description,
                term, obj), null);
    }

    /// <summary>True when the body names a value other than the stored one (<paramref name="storedValue"/> is asked only then).</summary>
    public bool ChangesValue(Func<string> storedValue) =>
        Body.TryGetProperty("value", out _) && InputRules.Changes(Body, "value", storedValue());

    public bool ChangesMetadata(string storedJson) => InputRules.Changes(Body, "metadata", storedJson);
}
