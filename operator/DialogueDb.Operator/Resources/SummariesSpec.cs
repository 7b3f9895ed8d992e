using System.ComponentModel;
using System.ComponentModel.DataAnnotations;

namespace DialogueDb.Operator.Resources;

[ValidationRule("!has(self.provider) || self.provider != 'openai-compatible' || (has(self.model) && has(self.baseUrl) && has(self.apiKeySecretRef))",
    "the openai-compatible provider needs model, baseUrl and apiKeySecretRef.")]
internal sealed class SummariesSpec
{
    [Description("Who writes summaries: extractive (default; offline, no network) or openai-compatible (an LLM endpoint).")]
    [AllowedValues("extractive", "openai-compatible")]
    public string? Provider { get; set; }

    [Description("The model name sent to the endpoint (openai-compatible).")]
    [MaxLength(256)]
    public string? Model { get; set; }

    [Description("The endpoint's API root, e.g. https://llm.example.com/v1; requests go to {baseUrl}/chat/completions.")]
    [RegularExpression("^https?://[^\\s/]+(/\\S*)?$")]
    [MaxLength(2048)]
    public string? BaseUrl { get; set; }

    [Description("A Secret of the project's namespace holding the endpoint's API key (key: api-key unless given). Mounted as a file; never in the policy.")]
    public SecretKeyReference? ApiKeySecretRef { get; set; }

    [Description("The model's context in tokens; longer dialogues are summarised in chunks and merged. Absent: 8000.")]
    [Range(512, 2000000)]
    public int? ContextTokens { get; set; }

    [Description("Length budget of an extractive summary, in characters. Absent: 1200.")]
    [Range(100, 100000)]
    public int? MaxSummaryCharacters { get; set; }

    [Description("Named prompt templates (name → prompt); a request's template picks one. 'default' replaces the built-in prompt.")]
    [MaxLength(32)]
    public IDictionary<string, string>? Templates { get; set; }
}
