using System.Buffers.Binary;
using DialogueDb.Service.Security;

namespace DialogueDb.Service.Search;

/// <summary>
/// An item's blind-index postings as stored in its index row: <c>count (int32 LE) | count × (token (16 bytes) |
/// frequency (int32 LE))</c>, encrypted with the content key under the item's row identity. Stored this way, one row per
/// item instead of one per term, the index at rest shows no token at all: not even which items share a term.
/// </summary>
internal static class SearchPostings
{
    private const int EntryLength = BlindToken.Length + sizeof(int);

    /// <summary>A message's postings are bound to its dialogue and id, a memory's to its id (<see cref="SearchItemKey.Row"/>).</summary>
    public static RowIdentity Row(string ns, SearchItemKey key) => key.Row(ns, "terms", "message.terms");

    public static byte[] Protect(ContentProtector protector, string ns, SearchItemKey key, IReadOnlyList<ItemTerm> terms)
    {
        var plain = new byte[sizeof(int) + (terms.Count * EntryLength)];
        BinaryPrimitives.WriteInt32LittleEndian(plain, terms.Count);
        for (var i = 0; i < terms.Count; i++)
        {
            var entry = plain.AsSpan(sizeof(int) + (i * EntryLength), EntryLength);
            terms[i].Token.Write(entry);
            BinaryPrimitives.WriteInt32LittleEndian(entry[BlindToken.Length..], terms[i].Frequency);
        }

        return protector.Encrypt(plain, Row(ns, key));
    }

    public static ItemTerm[] Unprotect(ContentProtector protector, string ns, SearchItemKey key, byte[] stored)
    {
        var plain = protector.Decrypt(stored, Row(ns, key));
        var count = BinaryPrimitives.ReadInt32LittleEndian(plain);
        if (count < 0 || plain.Length != sizeof(int) + ((long)count * EntryLength))
        {
            throw new ContentDecryptionException("The stored search postings have an unexpected length.");
        }

        var terms = new ItemTerm[count];
        for (var i = 0; i < count; i++)
        {
            var entry = plain.AsSpan(sizeof(int) + (i * EntryLength), EntryLength);
            terms[i] = new ItemTerm(BlindToken.Read(entry), BinaryPrimitives.ReadInt32LittleEndian(entry[BlindToken.Length..]));
        }

        return terms;
    }
}
