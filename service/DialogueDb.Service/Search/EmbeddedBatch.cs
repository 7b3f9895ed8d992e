namespace DialogueDb.Service.Search;

/// <summary>
/// What <see cref="IsolatingEmbedder"/> made of a batch: the vectors of the entries it embedded, the entries that failed
/// on their own (with the reason, which never holds any text), and, when the embedder is down, the failure (the
/// entries without vectors then stay queued as they are).
/// </summary>
internal sealed class EmbeddedBatch
{
    public Dictionary<long, float[][]> Vectors { get; } = [];

    public List<long> Failed { get; } = [];

    public string? Reason { get; set; }

    /// <summary>Whether every input reported failed was refused outright (see <see cref="EmbeddingsFailure.Refused"/>).</summary>
    public bool RefusedOnly { get; set; } = true;

    public EmbeddingsFailure? Outage { get; set; }
}
