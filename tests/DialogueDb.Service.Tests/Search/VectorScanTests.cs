using System.Numerics.Tensors;
using DialogueDb.Service.Search;

namespace DialogueDb.Service.Tests.Search;

public sealed class VectorScanTests
{
    [Fact]
    public void Nearest_Exact_SameAsSortingEveryScore()
    {
        var random = new Random(7);
        var rows = RandomUnitVectors(random, 2_000, 64);
        var matrix = new VectorMatrix(64, rows, quantize: false);
        var query = RandomUnitVectors(random, 1, 64)[0];

        var nearest = VectorScan.Nearest(query, matrix, 10);

        var expected = rows.Select((r, i) => (i, TensorPrimitives.Dot(query, r))).OrderByDescending(s => s.Item2).Take(10).ToList();
        Assert.Equal(expected.Select(e => e.i), nearest.Select(n => n.Index));
    }

    [Fact]
    public void Nearest_Int8Path_RecallAtTenOverNinetyFivePercentOfExact()
    {
        var random = new Random(11);
        var rows = RandomUnitVectors(random, 25_000, 384);
        var matrix = new VectorMatrix(384, rows);
        Assert.NotNull(matrix.Quantized);

        var found = 0;
        const int Queries = 20;
        foreach (var query in RandomUnitVectors(random, Queries, 384))
        {
            var exact = VectorScan.Nearest(query, matrix, 10, forceExact: true).Select(n => n.Index).ToHashSet();
            found += VectorScan.Nearest(query, matrix, 10).Count(n => exact.Contains(n.Index));
        }

        Assert.True(found >= 0.95 * Queries * 10, $"recall {found / (Queries * 10.0)}");
    }

    [Fact]
    public void DotInt8_MatchesScalarProduct()
    {
        var random = new Random(3);
        var a = Enumerable.Range(0, 389).Select(_ => (sbyte)random.Next(-127, 128)).ToArray();
        var b = Enumerable.Range(0, 389).Select(_ => (sbyte)random.Next(-127, 128)).ToArray();

        Assert.Equal(a.Zip(b).Sum(p => p.First * p.Second), VectorScan.DotInt8(a, b));
    }

    private static List<float[]> RandomUnitVectors(Random random, int count, int dimensions)
    {
        var rows = new List<float[]>(count);
        for (var i = 0; i < count; i++)
        {
            var v = new float[dimensions];
            for (var d = 0; d < dimensions; d++)
            {
                v[d] = (float)((random.NextDouble() * 2) - 1);
            }

            TensorPrimitives.Divide(v, TensorPrimitives.Norm(v), v);
            rows.Add(v);
        }

        return rows;
    }
}
