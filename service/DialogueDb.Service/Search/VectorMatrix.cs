namespace DialogueDb.Service.Search;

/// <summary>
/// Chunk vectors of one namespace in one contiguous float32 block (row i = vector i), and above
/// <see cref="VectorScan.ExactLimit"/> rows an int8 copy with one scale per row for the approximate scan.
/// </summary>
internal sealed class VectorMatrix
{
    private readonly float[] _values;

    public VectorMatrix(int dimensions, IReadOnlyList<float[]> rows, bool? quantize = null)
    {
        Dimensions = dimensions;
        Count = rows.Count;
        _values = new float[rows.Count * dimensions];
        for (var i = 0; i < rows.Count; i++)
        {
            rows[i].CopyTo(_values, i * dimensions);
        }

        if (quantize ?? rows.Count > VectorScan.ExactLimit)
        {
            Quantized = new sbyte[_values.Length];
            Scales = new float[rows.Count];
            for (var i = 0; i < rows.Count; i++)
            {
                Scales[i] = VectorScan.Quantize(Row(i), Quantized.AsSpan(i * dimensions, dimensions));
            }
        }
    }

    public int Dimensions { get; }

    public int Count { get; }

    public sbyte[]? Quantized { get; }

    public float[]? Scales { get; }

    /// <summary>Bytes held, for the cache's memory budget.</summary>
    public long Bytes => (_values.Length * sizeof(float)) + (Quantized?.Length ?? 0) + ((Scales?.Length ?? 0) * sizeof(float));

    public ReadOnlySpan<float> Row(int index) => _values.AsSpan(index * Dimensions, Dimensions);
}
