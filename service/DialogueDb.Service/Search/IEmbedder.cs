namespace DialogueDb.Service.Search;

/// <summary>
/// Turns texts into unit-length embedding vectors. In-process by default (<see cref="MiniLmEmbedder"/>); the seam lets
/// a project use another model or an embeddings endpoint later. A text longer than the model's window is cut into
/// overlapping chunks, one vector each.
/// </summary>
internal interface IEmbedder
{
    /// <summary>Length of every vector.</summary>
    int Dimensions { get; }

    /// <summary>Names the model, stored with the index so vectors of different models are never compared.</summary>
    string Model { get; }

    /// <summary>For each text, its chunks' vectors (at least one; an empty text gets one vector too).</summary>
    ValueTask<float[][][]> EmbedAsync(IReadOnlyList<string> texts, CancellationToken ct);
}
