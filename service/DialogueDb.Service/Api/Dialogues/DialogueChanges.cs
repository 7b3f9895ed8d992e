using System.Text.Json;

namespace DialogueDb.Service.Api.Dialogues;

/// <summary>
/// A validated update-dialogue body (§4 "Update"): a new label (or its removal), tags or a whole new state. Metadata is
/// immutable: <see cref="ChangesMetadata"/> tells whether the body tries to change the stored value.
/// </summary>
internal sealed record DialogueChanges(bool SetsLabel, string? Label, string? Tags, string? State, JsonElement Body)
{
    /// <summary>The changes, or the error to answer: the field errors, or 413 when the state is too large.</summary>
    public static (DialogueChanges? Changes, ApiError? Error) Parse(JsonElement obj, string pathId)
    {
        var rules = new InputRules();
        if (obj.TryGetProperty("id", out var bodyId) && bodyId.ValueKind != JsonValueKind.Null
            && !(bodyId.ValueKind == JsonValueKind.String && bodyId.GetString() == pathId))
        {
            rules.Invalid("id", "must equal the id in the path");
        }

        var label = rules.Text(obj, "label", "label", InputRules.MaxLabelLength);
        var tags = rules.Tags(obj, "tags", "tags");
        var (state, stateError) = DialogueState.Parse(obj, "state", rules);
        if (stateError is not null)
        {
            return (null, stateError);
        }

        if (rules.HasErrors)
        {
            return (null, rules.ToError());
        }

        // A null label removes it; an absent one keeps it.
        var setsLabel = obj.TryGetProperty("label", out _);
        return (new DialogueChanges(setsLabel, label, tags, state, obj), null);
    }

    public bool ChangesMetadata(string storedJson) => InputRules.Changes(Body, "metadata", storedJson);
}
