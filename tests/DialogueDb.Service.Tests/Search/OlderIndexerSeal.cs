using DialogueDb.Service.Search;
using DialogueDb.Service.Security;
using Microsoft.Extensions.DependencyInjection;

namespace DialogueDb.Service.Tests.Search;

/// <summary>
/// A message's index fields as the version before analysis format 4 sealed them: its postings and vectors under its id
/// alone, not its dialogue. An upgraded index may hold such rows (one left from before the upgrade, or written by an
/// older indexer that still led during a rolling upgrade).
/// </summary>
internal static class OlderIndexerSeal
{
    public sealed record MessageFields(byte[] Terms, byte[] Vectors, int Length);

    /// <summary>
    /// The fields of message <paramref name="messageId"/> of <paramref name="dialogueId"/> holding <paramref name="text"/>
    /// (its vectors those of <see cref="ScriptedEmbedder"/>).
    /// </summary>
    public static async Task<MessageFields> MessageAsync(IServiceProvider services, string ns, string dialogueId, string messageId,
        string text, CancellationToken ct)
    {
        var protector = services.GetRequiredService<ContentProtector>();
        var tokens = services.GetRequiredService<BlindTokenKey>();
        var key = SearchItemKey.Message(dialogueId, messageId);
        var terms = KeywordAnalyzer.TermFrequencies(text).Select(f => new ItemTerm(tokens.Token(f.Key), f.Value)).ToList();
        var vectors = (await new ScriptedEmbedder().EmbedAsync([text], ct))[0];
        // The same plaintext as this version seals, under the older identity.
        var plainTerms = protector.Decrypt(SearchPostings.Protect(protector, ns, key, terms), SearchPostings.Row(ns, key));
        var oldTerms = protector.Encrypt(plainTerms, new RowIdentity("terms", ns, "message", messageId));
        var plainVectors = protector.Decrypt(SearchVectors.Protect(protector, ns, key, vectors), SearchVectors.Row(ns, key));
        var oldVectors = protector.Encrypt(plainVectors, new RowIdentity("vectors", ns, "message", messageId));
        return new MessageFields(oldTerms, oldVectors, terms.Sum(t => t.Frequency));
    }
}
