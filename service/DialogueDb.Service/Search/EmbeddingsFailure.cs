namespace DialogueDb.Service.Search;

/// <summary>
/// The embeddings endpoint could not embed a batch (after its retries): the indexer keeps the work queued and tries
/// again later; a search answers 503. The message names the problem (status, timeout, a wrong dimension), never a key
/// or any text.
/// </summary>
internal sealed class EmbeddingsFailure : Exception
{
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
