using System.Text;

namespace DialogueDb.Service.Summaries;

/// <summary>
/// The LLM provider: the template's prompt as the system message and the transcript (<c>role (name): text</c> per
/// message, in order) as the user message. A transcript longer than the model's context is cut into chunks that are
/// summarised one by one (map), and the partial summaries are summarised together (reduce, repeated while they are
/// still too long). The API key is read from its file for every job, so a rotated Secret applies at once.
/// </summary>
internal sealed class OpenAiCompatibleSummarizer(ChatCompletionsClient client, string? apiKeyFile) : ISummarizer
{
    /// <summary>Reduce rounds at most (each should shrink the text; a model that does not is a bad response).</summary>
    private const int MaxRounds = 8;

    private const string PartsNote =
        "\n\nThe text below is the summaries of consecutive parts of one conversation, in order. Merge them into one summary.";

    public async Task<SummaryText> SummarizeAsync(SummaryInput input, CancellationToken ct)
    {
        var settings = input.Settings;
        var apiKey = await ReadKeyAsync(ct);
        var baseUrl = new Uri(settings.BaseUrl!);
        var model = settings.Model!;
        // Room for the transcript: the context less the prompt and a quarter kept for the answer.
        var budget = Math.Max(256, settings.ContextTokens * 3 / 4 - TokenEstimate.Of(input.Prompt) - 16);
        var pieces = input.Lines.Select(Format).ToList();
        var prompt = input.Prompt;
        for (var round = 1; round <= MaxRounds; round++)
        {
            var chunks = TranscriptChunks.Split(pieces, budget);
            var partials = new List<string>(chunks.Count);
            foreach (var chunk in chunks)
            {
                partials.Add(await client.CompleteAsync(baseUrl, apiKey, model, prompt, chunk, ct));
            }

            if (partials.Count == 1)
            {
                return new SummaryText(partials[0], model);
            }

            pieces = partials;
            prompt = input.Prompt + PartsNote;
        }

        throw new SummaryFailure(SummaryFailure.ProviderBadResponse,
            $"The partial summaries did not fit the model's context after {MaxRounds} rounds", transient: false);
    }

    private static string Format(TranscriptLine line)
    {
        var who = line.Name is null ? line.Role : $"{line.Role} ({line.Name})";
        return new StringBuilder(who.Length + line.Text.Length + 2).Append(who).Append(": ").Append(line.Text).ToString();
    }

    private async Task<string> ReadKeyAsync(CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(apiKeyFile) || !File.Exists(apiKeyFile))
        {
            throw new SummaryFailure(SummaryFailure.ProviderKeyMissing,
                "The summary provider's API key file is not configured or missing (DIALOGUEDB_SUMMARY_API_KEY_FILE)", transient: false);
        }

        var key = (await File.ReadAllTextAsync(apiKeyFile, ct)).Trim();
        return key.Length > 0
            ? key
            : throw new SummaryFailure(SummaryFailure.ProviderKeyMissing, "The summary provider's API key file is empty", transient: false);
    }
}
