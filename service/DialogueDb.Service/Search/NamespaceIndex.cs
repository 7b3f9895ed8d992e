namespace DialogueDb.Service.Search;

/// <summary>
/// An immutable snapshot of one namespace's index of one kind at one <see cref="Version"/>: the items, their vectors in
/// one matrix (row → item) and, once searched by keyword, their inverted lists. Changes make a new snapshot; searches in
/// flight keep the one they started with.
/// </summary>
internal sealed class NamespaceIndex
{
    /// <summary>
    /// Memory per posting: the item's own copy (token and frequency, 24 bytes), its place in an inverted list (8) and a
    /// share of the token map (about 40 bytes per distinct token, counted as 24: texts share most of their terms).
    /// </summary>
    private const long BytesPerPosting = 24 + 8 + 24;

    private readonly int[] _owner;
    private readonly Lazy<KeywordPostings> _keywords;

    public NamespaceIndex(string ns, string kind, long version, IReadOnlyDictionary<SearchItemKey, IndexedItem> items, int dimensions)
    {
        Namespace = ns;
        Kind = kind;
        Version = version;
        Items = items;
        var rows = new List<float[]>();
        var owner = new List<int>();
        var list = items.Values.ToArray();
        for (var i = 0; i < list.Length; i++)
        {
            foreach (var vector in list[i].Vectors)
            {
                rows.Add(vector);
                owner.Add(i);
            }
        }

        ItemList = list;
        _owner = [.. owner];
        Matrix = new VectorMatrix(dimensions, rows);
        TotalLength = list.Sum(i => (long)i.Length);
        _keywords = new Lazy<KeywordPostings>(() => new KeywordPostings(list));
        // The items keep their own vectors too (a catch-up rebuilds the matrix from them): count both, or the cache's
        // memory budget lets twice its size through (measured: 349 MiB held for 100,000 single-chunk items).
        Bytes = Matrix.Bytes + (rows.Count * ((dimensions * sizeof(float)) + 24L)) + (list.Length * 200L)
            + (list.Sum(i => (long)i.Terms.Length) * BytesPerPosting);
    }

    public string Namespace { get; }

    public string Kind { get; }

    public long Version { get; }

    public IReadOnlyDictionary<SearchItemKey, IndexedItem> Items { get; }

    public IReadOnlyList<IndexedItem> ItemList { get; }

    public VectorMatrix Matrix { get; }

    public long TotalLength { get; }

    /// <summary>The items' inverted lists (built at the first keyword search of this snapshot).</summary>
    public KeywordPostings Keywords => _keywords.Value;

    public double AverageLength => ItemList.Count == 0 ? 1 : (double)TotalLength / ItemList.Count;

    /// <summary>Approximate memory held (vectors dominate), for the cache's budget.</summary>
    public long Bytes { get; }

    /// <summary>Items by their best chunk's cosine to the query, best first (every item of the namespace, or the best n).</summary>
    public List<(IndexedItem Item, float Score)> Nearest(ReadOnlySpan<float> query, int count)
    {
        // Chunks of one item compete for places: ask for more rows than items wanted, then keep each item's best.
        var rows = VectorScan.Nearest(query, Matrix, Math.Min(Matrix.Count, count * 3));
        var seen = new HashSet<int>();
        var result = new List<(IndexedItem, float)>(count);
        foreach (var (row, score) in rows)
        {
            if (seen.Add(_owner[row]))
            {
                result.Add((ItemList[_owner[row]], score));
                if (result.Count == count)
                {
                    break;
                }
            }
        }

        return result;
    }
}
