using System.Collections.Frozen;
using System.Text;

namespace DialogueDb.Service.Search;

/// <summary>
/// Turns text into the terms of the keyword index: NFKC-normalised (<see cref="Nfkc"/>), folded (diacritics and a few
/// letters without a decomposition, <see cref="UnicodeFolding"/>), lower-cased, split into words
/// of letters and digits, common English stop words dropped, words stemmed (<see cref="Stem"/>). Identifiers such as
/// <c>INV-2024-0042</c> or <c>user@example.com</c> are also kept whole (unstemmed), so an exact code ranks first.
/// Queries go through the same analysis, so only consistency matters, not linguistic perfection.
/// </summary>
internal static class KeywordAnalyzer
{
    /// <summary>
    /// The version of this analysis, stored with each namespace's index (<see cref="SearchNamespaceRow.Format"/>): a change
    /// that turns a text into other terms must raise it, so indexes built before are rebuilt instead of missing matches.
    /// The index's storage counts too (an item's postings stored otherwise are missing until it is indexed again).
    /// 1: the folding table alone; 2: true NFKC first; 3: postings stored in the item's row (encrypted), not one row per term;
    /// 4: messages keyed and encrypted by dialogue and id (<see cref="SearchItemKey"/>), not by id alone: an older message
    /// index cannot be read and is rebuilt from scratch (<see cref="SearchIndexIdentity.Readable"/>).
    /// </summary>
    public const int Format = 4;

    /// <summary>The first format whose message rows are bound to their dialogue (<see cref="SearchPostings.Row"/>).</summary>
    public const int DialogueKeyedFormat = 4;

    /// <summary>Longest term kept; longer runs are cut (they are ids or noise, and an HMAC hides the length anyway).</summary>
    public const int MaxTermLength = 64;

    private static readonly FrozenSet<string> StopWords = FrozenSet.ToFrozenSet(
    [
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "its", "of", "on",
        "or", "so", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "were", "will",
        "with", "i", "me", "my", "we", "our", "you", "your", "he", "she", "him", "her", "do", "did", "does", "has", "have",
        "had", "what", "which", "who", "whom", "been", "being", "am", "from", "about", "than", "too", "very", "can",
    ], StringComparer.Ordinal);

    /// <summary>Each term of the text with how often it occurs.</summary>
    public static Dictionary<string, int> TermFrequencies(string text)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var term in Terms(text))
        {
            counts[term] = counts.GetValueOrDefault(term) + 1;
        }

        return counts;
    }

    /// <summary>The terms in text order (repeats included).</summary>
    public static List<string> Terms(string text)
    {
        var normalized = UnicodeFolding.Fold(Nfkc.Normalize(text)).ToLowerInvariant();
        var terms = new List<string>();
        var i = 0;
        while (i < normalized.Length)
        {
            if (!char.IsLetterOrDigit(normalized[i]))
            {
                i++;
                continue;
            }

            // A compound: words joined by single connectors (a-b, a.b, a_b, a@b, a:b, a/b, a#b).
            var start = i;
            var words = 0;
            while (true)
            {
                var wordStart = i;
                while (i < normalized.Length && char.IsLetterOrDigit(normalized[i]))
                {
                    i++;
                }

                AddWord(terms, normalized[wordStart..i]);
                words++;
                if (i + 1 < normalized.Length && IsConnector(normalized[i]) && char.IsLetterOrDigit(normalized[i + 1]))
                {
                    i++;
                    continue;
                }

                break;
            }

            if (words > 1)
            {
                terms.Add(Cut(normalized[start..i]));
            }
        }

        return terms;
    }

    private static void AddWord(List<string> terms, string word)
    {
        if (word.Length == 1 && !char.IsDigit(word[0]) && word[0] < 0x80)
        {
            return;
        }

        if (StopWords.Contains(word))
        {
            return;
        }

        terms.Add(Cut(Stem(word)));
    }

    private static bool IsConnector(char c) => c is '-' or '.' or '_' or '@' or ':' or '/' or '#' or '+';

    private static string Cut(string term) => term.Length <= MaxTermLength ? term : term[..MaxTermLength];

    /// <summary>
    /// A light English suffix stemmer (plural, -ing, -ed, -ly, a few derivations): "invoices" and "invoice",
    /// "deployed" and "deploying" meet. Words with digits are left alone.
    /// </summary>
    public static string Stem(string word)
    {
        if (word.Length <= 3 || word.Any(char.IsDigit) || word.Any(c => c >= 0x80 && !char.IsLetter(c)))
        {
            return word;
        }

        var w = word;
        if (w.EndsWith("ies", StringComparison.Ordinal) && w.Length > 4)
        {
            w = w[..^3] + "y";
        }
        else if (w.EndsWith("sses", StringComparison.Ordinal))
        {
            w = w[..^2];
        }
        else if (w.EndsWith("es", StringComparison.Ordinal) && w.Length > 4 && (w[^3] is 's' or 'x' or 'z' || w.EndsWith("ches", StringComparison.Ordinal) || w.EndsWith("shes", StringComparison.Ordinal)))
        {
            w = w[..^2];
        }
        else if (w[^1] == 's' && w[^2] is not ('s' or 'u' or 'i') && w.Length > 3)
        {
            w = w[..^1];
        }

        foreach (var (suffix, minStem) in Suffixes)
        {
            if (w.EndsWith(suffix, StringComparison.Ordinal) && w.Length - suffix.Length >= minStem)
            {
                w = w[..^suffix.Length];
                if (suffix is "ing" or "ed" && w.Length > 3 && w[^1] == w[^2] && w[^1] is not ('l' or 's' or 'z'))
                {
                    w = w[..^1];
                }

                break;
            }
        }

        return w.EndsWith('e') && w.Length > 4 ? w[..^1] : w;
    }

    private static readonly (string Suffix, int MinStem)[] Suffixes =
    [
        ("ational", 3), ("ization", 3), ("fulness", 3), ("iveness", 3), ("ments", 3), ("ment", 4), ("ness", 3),
        ("ingly", 3), ("edly", 3), ("ing", 3), ("ly", 4), ("ed", 3), ("er", 4), ("ation", 3),
    ];

    /// <summary>The UTF-8 bytes of a term (what the blind index keys).</summary>
    public static byte[] Bytes(string term) => Encoding.UTF8.GetBytes(term);
}
