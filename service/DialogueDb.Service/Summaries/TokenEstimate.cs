using System.Text.RegularExpressions;

namespace DialogueDb.Service.Summaries;

/// <summary>
/// A model-independent token count for <c>contentTokenCount</c> and for chunking: words and punctuation marks, with
/// long words counted per four characters (close to BPE tokenisers on English text; no provider's tokenizer is exact
/// for another's model).
/// </summary>
internal static partial class TokenEstimate
{
    public static int Of(string text)
    {
        var count = 0;
        foreach (var match in Pieces().EnumerateMatches(text))
        {
            count += Math.Max(1, (match.Length + 3) / 4);
        }

        return count;
    }

    [GeneratedRegex(@"\w+|[^\w\s]", RegexOptions.CultureInvariant)]
    private static partial Regex Pieces();
}
