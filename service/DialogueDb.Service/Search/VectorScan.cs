using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace DialogueDb.Service.Search;

/// <summary>
/// Nearest neighbours of a query among a namespace's chunk vectors (unit length, so the dot product is the cosine).
/// Up to <see cref="ExactLimit"/> vectors: an exact SIMD scan over the float32 matrix. Above it: a scan over an int8
/// copy (a quarter of the memory traffic), whose best <see cref="RerankFactor"/>× candidates are re-scored exactly.
/// </summary>
internal static class VectorScan
{
    public const int ExactLimit = 20_000;
    public const int RerankFactor = 8;

    /// <summary>The best <paramref name="count"/> (vector index, cosine) pairs, best first.</summary>
    public static List<(int Index, float Score)> Nearest(ReadOnlySpan<float> query, VectorMatrix matrix, int count, bool forceExact = false)
    {
        if (matrix.Count == 0 || count <= 0)
        {
            return [];
        }

        if (forceExact || matrix.Quantized is null)
        {
            return Exact(query, matrix, count);
        }

        var quantizedQuery = new sbyte[matrix.Dimensions];
        var queryScale = Quantize(query, quantizedQuery);
        var rough = new TopK(Math.Min(matrix.Count, count * RerankFactor));
        var rows = matrix.Quantized;
        for (var i = 0; i < matrix.Count; i++)
        {
            var dot = DotInt8(quantizedQuery, rows.AsSpan(i * matrix.Dimensions, matrix.Dimensions));
            rough.Offer(i, dot * queryScale * matrix.Scales![i]);
        }

        var exact = new TopK(count);
        foreach (var (index, _) in rough.Drain())
        {
            exact.Offer(index, TensorPrimitives.Dot(query, matrix.Row(index)));
        }

        return exact.Drain();
    }

    private static List<(int, float)> Exact(ReadOnlySpan<float> query, VectorMatrix matrix, int count)
    {
        var top = new TopK(count);
        for (var i = 0; i < matrix.Count; i++)
        {
            top.Offer(i, TensorPrimitives.Dot(query, matrix.Row(i)));
        }

        return top.Drain();
    }

    /// <summary>Symmetric int8 quantisation of one vector; returns the factor that maps the integers back.</summary>
    public static float Quantize(ReadOnlySpan<float> vector, Span<sbyte> output)
    {
        var max = Math.Abs(TensorPrimitives.MaxMagnitude(vector));
        var scale = max > 0 ? 127f / max : 1f;
        for (var i = 0; i < vector.Length; i++)
        {
            output[i] = (sbyte)Math.Round(vector[i] * scale);
        }

        return 1f / scale;
    }

    public static int DotInt8(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b)
    {
        var i = 0;
        var sum = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var acc = Vector256<int>.Zero;
            for (; i <= a.Length - Vector256<sbyte>.Count; i += Vector256<sbyte>.Count)
            {
                var (aLow, aHigh) = Vector256.Widen(Vector256.Create(a.Slice(i)));
                var (bLow, bHigh) = Vector256.Widen(Vector256.Create(b.Slice(i)));
                // |a·b| ≤ 127·127 per lane, so the sum of two products still fits in 16 bits.
                var (low, high) = Vector256.Widen((aLow * bLow) + (aHigh * bHigh));
                acc += low + high;
            }

            sum = Vector256.Sum(acc);
        }

        for (; i < a.Length; i++)
        {
            sum += a[i] * b[i];
        }

        return sum;
    }

    /// <summary>Keeps the best k offers (a min-heap on the score).</summary>
    private sealed class TopK(int k)
    {
        private readonly PriorityQueue<int, float> _heap = new(k + 1);

        public void Offer(int index, float score)
        {
            if (_heap.Count < k)
            {
                _heap.Enqueue(index, score);
            }
            else if (_heap.TryPeek(out _, out var worst) && score > worst)
            {
                _heap.DequeueEnqueue(index, score);
            }
        }

        public List<(int Index, float Score)> Drain()
        {
            var items = new List<(int, float)>(_heap.Count);
            while (_heap.TryDequeue(out var index, out var score))
            {
                items.Add((index, score));
            }

            items.Reverse();
            return items;
        }
    }
}
