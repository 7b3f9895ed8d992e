using System.Text;

namespace DialogueDb.Service.Summaries;

/// <summary>Consecutive pieces of text joined into chunks of at most a token budget (a longer piece is cut, never dropped).</summary>
internal static class TranscriptChunks
{
    public static List<string> Split(IReadOnlyList<string> pieces, int maxTokens)
    {
        var chunks = new List<string>();
        var current = new StringBuilder();
        var tokens = 0;
        foreach (var whole in pieces)
        {
            foreach (var piece in Cut(whole, maxTokens))
            {
                var size = TokenEstimate.Of(piece);
                if (tokens > 0 && tokens + size > maxTokens)
                {
                    chunks.Add(current.ToString());
                    current.Clear();
                    tokens = 0;
                }

                current.Append(current.Length == 0 ? "" : "\n\n").Append(piece);
                tokens += size;
            }
        }

        if (current.Length > 0)
        {
            chunks.Add(current.ToString());
        }

        return chunks;
    }

    /// <summary>A piece over the budget, cut at word boundaries into parts within it.</summary>
    private static IEnumerable<string> Cut(string piece, int maxTokens)
    {
        if (TokenEstimate.Of(piece) <= maxTokens)
        {
            yield return piece;
            yield break;
        }

        var part = new StringBuilder();
        var tokens = 0;
        foreach (var word in piece.Split(' '))
        {
            var size = TokenEstimate.Of(word);
            if (tokens > 0 && tokens + size > maxTokens)
            {
                yield return part.ToString();
                part.Clear();
                tokens = 0;
            }

            part.Append(part.Length == 0 ? "" : " ").Append(word);
            tokens += size;
        }

        if (part.Length > 0)
        {
            yield return part.ToString();
        }
    }
}
