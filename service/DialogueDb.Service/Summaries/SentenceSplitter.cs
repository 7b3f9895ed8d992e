using System.Text.RegularExpressions;

namespace DialogueDb.Service.Summaries;

/// <summary>Cuts message text into sentences: at . ! ? followed by space, and at line breaks; fragments of one word are dropped.</summary>
internal static partial class SentenceSplitter
{
    public const int MaxSentenceLength = 600;

    public static IEnumerable<string> Split(string text)
    {
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            foreach (var piece in Boundary().Split(line))
            {
                var sentence = Space().Replace(piece.Trim(), " ");
                if (sentence.Contains(' ', StringComparison.Ordinal))
                {
                    yield return sentence.Length <= MaxSentenceLength ? sentence : sentence[..MaxSentenceLength].TrimEnd() + "…";
                }
            }
        }
    }

    [GeneratedRegex(@"(?<=[.!?…])\s+(?=\S)", RegexOptions.CultureInvariant)]
    private static partial Regex Boundary();

    [GeneratedRegex(@"\s+", RegexOptions.CultureInvariant)]
    private static partial Regex Space();
}
