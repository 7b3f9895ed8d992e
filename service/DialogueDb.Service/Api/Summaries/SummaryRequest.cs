using System.Text.Json;
using DialogueDb.Service.Policy;

namespace DialogueDb.Service.Api.Summaries;

/// <summary>The body of <c>POST /summary</c> (contract §10), validated; every failing field is reported at once.</summary>
internal sealed record SummaryRequest(string DialogueId, string? Id, string Template, string? StartId, string? EndId)
{
    public static (SummaryRequest? Request, ApiError? Error) Parse(JsonElement obj, SummarySettings settings)
    {
        var rules = new InputRules();
        string? dialogueId = null;
        if (!obj.TryGetProperty("dialogueId", out var dialogue) || dialogue.ValueKind == JsonValueKind.Null
            || (dialogue.ValueKind == JsonValueKind.String && dialogue.GetString()!.Length == 0))
        {
            rules.Missing("dialogueId");
        }
        else
        {
            dialogueId = rules.Id(obj, "dialogueId", "dialogueId");
        }

        var id = rules.Id(obj, "id", "id");
        var startId = rules.Id(obj, "startId", "startId");
        var endId = rules.Id(obj, "endId", "endId");
        var template = rules.Text(obj, "template", "template", InputRules.MaxIdLength) ?? SummarySettings.DefaultTemplate;
        if (!rules.HasErrors && settings.PromptOf(template) is null)
        {
            rules.Invalid("template", "is not a summary template of this project");
        }

        return rules.HasErrors ? (null, rules.ToError()) : (new SummaryRequest(dialogueId!, id, template, startId, endId), null);
    }
}
