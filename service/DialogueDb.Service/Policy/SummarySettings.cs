using System.Text.Json.Serialization;

namespace DialogueDb.Service.Policy;

/// <summary>
/// The project's summary settings (policy <c>summaries</c>): which provider writes summaries, the model and endpoint of
/// an LLM provider, and named prompt templates. The provider's API key is never part of the policy: it is a file the
/// service reads (<c>DIALOGUEDB_SUMMARY_API_KEY_FILE</c>, a mounted Secret in Kubernetes).
/// </summary>
internal sealed record SummarySettings
{
    public const string Extractive = "extractive";
    public const string OpenAiCompatible = "openai-compatible";
    public const string DefaultTemplate = "default";
    public const int MaxTemplateLength = 8_000;

    /// <summary>The built-in prompt of the <c>default</c> template (a policy may replace it).</summary>
    public const string DefaultPrompt =
        "Summarise the following conversation for someone who will continue it. Keep names, decisions, open questions, " +
        "numbers and commitments. Write plain prose, at most a few short paragraphs.";

    public static readonly SummarySettings Default = new();

    [JsonPropertyName("provider")] public string Provider { get; init; } = Extractive;

    [JsonPropertyName("model")] public string? Model { get; init; }

    /// <summary>The API root of an OpenAI-compatible server (e.g. <c>https://llm.example/v1</c>).</summary>
    [JsonPropertyName("baseUrl")] public string? BaseUrl { get; init; }

    /// <summary>The model's context in tokens: longer dialogues are summarised in chunks and the partial summaries merged.</summary>
    [JsonPropertyName("contextTokens")] public int ContextTokens { get; init; } = 8_000;

    /// <summary>Length budget of an extractive summary, in characters.</summary>
    [JsonPropertyName("maxSummaryCharacters")] public int MaxSummaryCharacters { get; init; } = 1_200;

    /// <summary>Named prompt templates; <c>template</c> in a request picks one (absent: <c>default</c>).</summary>
    [JsonPropertyName("templates")] public IReadOnlyDictionary<string, string>? Templates { get; init; }

    /// <summary>The prompt of a template, or null when the project has no template of that name.</summary>
    public string? PromptOf(string name) =>
        Templates is not null && Templates.TryGetValue(name, out var prompt) ? prompt
        : name == DefaultTemplate ? DefaultPrompt
        : null;

    /// <summary>Why these settings cannot be used (naming the field, never a value), or null.</summary>
    public string? Problem()
    {
        if (Provider is not (Extractive or OpenAiCompatible))
        {
            return $"summaries.provider must be '{Extractive}' or '{OpenAiCompatible}'";
        }

        if (Provider == OpenAiCompatible)
        {
            if (string.IsNullOrWhiteSpace(Model))
            {
                return "summaries.model is required for the openai-compatible provider";
            }

            if (!Uri.TryCreate(BaseUrl, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            {
                return "summaries.baseUrl must be an absolute http(s) URL for the openai-compatible provider";
            }
        }

        if (ContextTokens is < 512 or > 2_000_000 || MaxSummaryCharacters is < 100 or > 100_000)
        {
            return "summaries.contextTokens must be 512–2,000,000 and summaries.maxSummaryCharacters 100–100,000";
        }

        foreach (var (name, prompt) in Templates ?? new Dictionary<string, string>())
        {
            if (!Api.InputRules.IsValidId(name) || string.IsNullOrWhiteSpace(prompt) || prompt.Length > MaxTemplateLength)
            {
                return $"summaries.templates needs names of [A-Za-z0-9._:@-] and non-empty prompts of at most {MaxTemplateLength} characters";
            }
        }

        return null;
    }
}
