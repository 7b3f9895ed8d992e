using System.Text.Json;
using DialogueDb.Service.Api.Messages;

namespace DialogueDb.Service.Api.Dialogues;

/// <summary>A validated create-dialogue body (§4 "Create"): the dialogue's fields, its state and up to 25 initial messages.</summary>
internal sealed record DialogueInput(
    string? Id, string? ThreadOf, string? Label, string Tags, string Metadata, long? Created, string? State,
    IReadOnlyList<MessageInput> Messages)
{
    private const int MaxInitialMessages = 25;

    /// <summary>The input, or the error to answer: the field errors, or 413 when the state is too large.</summary>
    public static (DialogueInput? Input, ApiError? Error) Parse(JsonElement obj)
    {
        var rules = new InputRules();
        var id = rules.Id(obj, "id", "id");
        var threadOf = rules.Id(obj, "threadOf", "threadOf");
        var label = rules.Text(obj, "label", "label", InputRules.MaxLabelLength);
        var tags = rules.Tags(obj, "tags", "tags") ?? "[]";
        var metadata = rules.Metadata(obj, "metadata", "metadata") ?? "{}";
        var created = rules.Timestamp(obj, "created", "created");
        var (state, stateError) = DialogueState.Parse(obj, "state", rules);
        if (stateError is not null)
        {
            return (null, stateError);
        }

        var messages = ParseInitialMessages(obj, rules);
        return rules.HasErrors
            ? (null, rules.ToError())
            : (new DialogueInput(id, threadOf, label, tags, metadata, created, state, messages), null);
    }

    private static List<MessageInput> ParseInitialMessages(JsonElement obj, InputRules rules)
    {
        var inputs = new List<MessageInput>();
        var hasOne = obj.TryGetProperty("message", out var one) && one.ValueKind != JsonValueKind.Null;
        var hasMany = obj.TryGetProperty("messages", out var many) && many.ValueKind != JsonValueKind.Null;
        if (hasOne && hasMany)
        {
            rules.Invalid("messages", "send either message or messages, not both");
            return inputs;
        }

        if (hasOne)
        {
            if (MessageInput.Parse(one, "message", rules) is { } input)
            {
                inputs.Add(input);
            }
        }
        else if (hasMany)
        {
            if (many.ValueKind != JsonValueKind.Array)
            {
                rules.Invalid("messages", "must be an array of messages");
            }
            else if (many.GetArrayLength() > MaxInitialMessages)
            {
                rules.Invalid("messages", $"must have at most {MaxInitialMessages} messages");
            }
            else
            {
                var index = 0;
                foreach (var element in many.EnumerateArray())
                {
                    if (MessageInput.Parse(element, $"messages[{index}]", rules) is { } input)
                    {
                        inputs.Add(input);
                    }

                    index++;
                }
            }
        }

        return inputs;
    }
}
