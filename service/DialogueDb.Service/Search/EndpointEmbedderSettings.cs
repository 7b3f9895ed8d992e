namespace DialogueDb.Service.Search;

/// <summary>What <see cref="EndpointEmbedder"/> is told by the DIALOGUEDB_EMBEDDINGS_* settings.</summary>
internal sealed record EndpointEmbedderSettings(
    Uri BaseUrl, string Model, int Dimensions, string? ApiKeyFile, int BatchSize, TimeSpan Timeout)
{
    public TimeSpan FirstBackoff { get; init; } = TimeSpan.FromMilliseconds(500);

    public static EndpointEmbedderSettings From(Hosting.ServiceOptions options) => new(new Uri(options.EmbeddingsUrl!),
        options.EmbeddingsModel!, options.EmbeddingsDimensions!.Value,
        string.IsNullOrWhiteSpace(options.EmbeddingsApiKeyFile) ? null : options.EmbeddingsApiKeyFile, options.EmbeddingsBatchSize,
        TimeSpan.FromSeconds(options.EmbeddingsTimeoutSeconds));
}
