namespace DialogueDb.Service.Search;

/// <summary>
/// The embeddings endpoint could not embed a batch (after its retries): the indexer keeps the work queued and tries
/// again later; a search answers 503. The message names the problem (status, timeout, a wrong dimension), never a key
/// or any text.
/// </summary>
internal sealed class EmbeddingsFailure : Exception
{
    /// <summary>
    /// The endpoint refused the request itself (a 4xx other than 408 and 429): asking again with the same inputs will
    /// not help, though each input on its own may pass (see <see cref="SearchVectorIndexer"/>).
    /// </summary>
    public bool Refused { get; init; }

    public EmbeddingsFailure(string message)
        : base(message)
    {
    }

    public EmbeddingsFailure()
        : this("The embeddings endpoint failed")
    {
    }

    public EmbeddingsFailure(string message, Exception inner)
        : base(message, inner)
    {
    }
}
