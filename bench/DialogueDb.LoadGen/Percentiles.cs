namespace DialogueDb.LoadGen;

/// <summary>Percentiles from every recorded sample (sorted copy, nearest rank): exact, and cheap at these sample counts.</summary>
internal sealed class Percentiles
{
    private readonly double[] _sorted;

    public Percentiles(IEnumerable<double> samples)
    {
        _sorted = [.. samples];
        Array.Sort(_sorted);
    }

    public int Count => _sorted.Length;

    public double Max => _sorted.Length == 0 ? double.NaN : _sorted[^1];

    public double Min => _sorted.Length == 0 ? double.NaN : _sorted[0];

    /// <summary>Nearest-rank percentile, <paramref name="p"/> in [0, 100]; NaN without samples.</summary>
    public double At(double p)
    {
        if (_sorted.Length == 0)
        {
            return double.NaN;
        }

        var rank = (int)Math.Ceiling(p / 100.0 * _sorted.Length);
        return _sorted[Math.Clamp(rank - 1, 0, _sorted.Length - 1)];
    }
}
