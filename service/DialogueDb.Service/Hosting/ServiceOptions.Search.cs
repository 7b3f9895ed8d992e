using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;

namespace DialogueDb.Service.Hosting;

/// <summary>The settings of search: its index, the indexer and the embeddings endpoint.</summary>
internal sealed partial class ServiceOptions
{
    /// <summary>
    /// Search (<c>POST /search</c> and its index). Off: no write queues index work, no indexer runs, the route answers 404;
    /// turning it on later indexes only what is written from then on.
    /// </summary>
    [ConfigurationKeyName("SEARCH_ENABLED")]
    public bool SearchEnabled { get; set; } = true;

    /// <summary>Memory for decrypted search indexes (vectors) of recently searched namespaces; least recently used go first.</summary>
    [ConfigurationKeyName("SEARCH_MEMORY_MB")]
    [Range(16, 1_048_576)]
    public int SearchMemoryMb { get; set; } = 512;

    /// <summary>
    /// Where the search indexer runs: <c>inprocess</c> (default: <c>serve</c> hosts it where it runs the relay) or
    /// <c>external</c> (<c>serve</c> only queues index work; a <c>dialoguedb index</c> process works it off on its own cores).
    /// </summary>
    [ConfigurationKeyName("SEARCH_INDEXER")]
    [RegularExpression("^(inprocess|external)$", ErrorMessage = "SEARCH_INDEXER must be inprocess or external.")]
    public string SearchIndexer { get; set; } = "inprocess";

    /// <summary>
    /// An OpenAI-compatible embeddings endpoint's base URL (<c>POST {url}/embeddings</c>); unset: the in-process model.
    /// Changing it, the model or the dimensions makes the indexer rebuild each namespace's index before it is searched.
    /// </summary>
    [ConfigurationKeyName("EMBEDDINGS_URL")]
    public string? EmbeddingsUrl { get; set; }

    /// <summary>The embeddings endpoint's model name (required with <see cref="EmbeddingsUrl"/>).</summary>
    [ConfigurationKeyName("EMBEDDINGS_MODEL")]
    public string? EmbeddingsModel { get; set; }

    /// <summary>
    /// Length of the endpoint's vectors (required with <see cref="EmbeddingsUrl"/>); an answer of another length is refused.
    /// </summary>
    [ConfigurationKeyName("EMBEDDINGS_DIMENSIONS")]
    [Range(1, 16_384)]
    public int? EmbeddingsDimensions { get; set; }

    /// <summary>File holding the endpoint's API key (a mounted Secret), read at each request; unset: no Authorization header.</summary>
    [ConfigurationKeyName("EMBEDDINGS_API_KEY_FILE")]
    public string? EmbeddingsApiKeyFile { get; set; }

    /// <summary>Texts per embeddings request.</summary>
    [ConfigurationKeyName("EMBEDDINGS_BATCH_SIZE")]
    [Range(1, 2048)]
    public int EmbeddingsBatchSize { get; set; } = 64;

    /// <summary>Seconds one embeddings request may take before it is retried.</summary>
    [ConfigurationKeyName("EMBEDDINGS_TIMEOUT_SECONDS")]
    [Range(1, 600)]
    public int EmbeddingsTimeoutSeconds { get; set; } = 30;

    public bool UsesEmbeddingsEndpoint => !string.IsNullOrWhiteSpace(EmbeddingsUrl);

    public bool RunsSearchIndexerInProcess => SearchIndexer == "inprocess";
}
