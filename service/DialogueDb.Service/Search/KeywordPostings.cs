using System.Runtime.InteropServices;

namespace DialogueDb.Service.Search;

/// <summary>
/// The inverted lists of one namespace snapshot, built from its items' postings when it is first searched by keyword:
/// for each blind token, the items that have it (positions in the snapshot's item list) and how often. Three flat
/// arrays and one token → list map, so a query term costs one lookup and a contiguous read.
/// </summary>
internal sealed class KeywordPostings
{
    private readonly Dictionary<BlindToken, int> _lists;
    private readonly int[] _starts;
    private readonly int[] _items;
    private readonly int[] _frequencies;

    public KeywordPostings(IReadOnlyList<IndexedItem> items)
    {
        var counts = new Dictionary<BlindToken, int>();
        var total = 0;
        foreach (var item in items)
        {
            foreach (var term in item.Terms)
            {
                CollectionsMarshal.GetValueRefOrAddDefault(counts, term.Token, out _)++;
                total++;
            }
        }

        // Each token's list gets its place in the flat arrays; then the items are written in, list by list in item order.
        _lists = new Dictionary<BlindToken, int>(counts.Count);
        _starts = new int[counts.Count + 1];
        var list = 0;
        foreach (var (token, count) in counts)
        {
            _lists[token] = list;
            _starts[list + 1] = _starts[list] + count;
            list++;
        }

        _items = new int[total];
        _frequencies = new int[total];
        var next = _starts[..^1];
        for (var i = 0; i < items.Count; i++)
        {
            foreach (var term in items[i].Terms)
            {
                var at = next[_lists[term.Token]]++;
                _items[at] = i;
                _frequencies[at] = term.Frequency;
            }
        }
    }

    /// <summary>How many items have the token.</summary>
    public int Count(BlindToken token) => _lists.TryGetValue(token, out var list) ? _starts[list + 1] - _starts[list] : 0;

    /// <summary>The items that have the token (positions in the snapshot's item list) and how often each has it.</summary>
    public (ReadOnlyMemory<int> Items, ReadOnlyMemory<int> Frequencies) Of(BlindToken token)
    {
        if (!_lists.TryGetValue(token, out var list))
        {
            return (ReadOnlyMemory<int>.Empty, ReadOnlyMemory<int>.Empty);
        }

        var (start, length) = (_starts[list], _starts[list + 1] - _starts[list]);
        return (_items.AsMemory(start, length), _frequencies.AsMemory(start, length));
    }
}
