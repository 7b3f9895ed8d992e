using System.Collections.Frozen;
using System.Text;

namespace DialogueDb.Service.Search;

/// <summary>
/// Folding for search after <see cref="Nfkc"/>: diacritics removed from accented Latin, Greek and Cyrillic letters,
/// and letters without a decomposition spelled out (ß → ss, æ → ae, ø → o, ł → l, …). The service runs with invariant
/// globalization, so the mapping is a generated table (UnicodeFolding.Table.cs, from generate-folding-table.py; it also
/// holds NFKC's mappings of those blocks, which text already normalised never meets). Combining marks are dropped.
/// </summary>
internal static partial class UnicodeFolding
{
    private static readonly FrozenDictionary<char, string> Map = BuildMap();

    public static string Fold(string text)
    {
        var i = 0;
        while (i < text.Length && text[i] < 0x80)
        {
            i++;
        }

        if (i == text.Length)
        {
            return text;
        }

        var builder = new StringBuilder(text.Length + 8).Append(text, 0, i);
        for (; i < text.Length; i++)
        {
            var c = text[i];
            if (c is >= '\u0300' and <= '\u036f')
            {
                continue;
            }

            if (Map.TryGetValue(c, out var folded))
            {
                builder.Append(folded);
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }

    private static FrozenDictionary<char, string> BuildMap()
    {
        var targets = Targets.Split('\0');
        if (targets.Length != Sources.Length)
        {
            throw new InvalidOperationException("The folding table is inconsistent: regenerate it.");
        }

        var map = new Dictionary<char, string>(Sources.Length);
        for (var i = 0; i < Sources.Length; i++)
        {
            map[Sources[i]] = targets[i];
        }

        return map.ToFrozenDictionary();
    }
}
