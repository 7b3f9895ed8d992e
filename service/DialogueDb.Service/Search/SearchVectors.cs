using System.Buffers.Binary;
using System.Runtime.InteropServices;
using DialogueDb.Service.Security;

namespace DialogueDb.Service.Search;

/// <summary>
/// An item's chunk vectors as stored: <c>count (int32 LE) | count × dimensions float32 LE</c>, encrypted with the
/// content key under the item's row identity (embeddings can be inverted to text, so they are kept like content).
/// </summary>
internal static class SearchVectors
{
    /// <summary>Bound like the item's postings (<see cref="SearchItemKey.Row"/>): a message's to its dialogue and id.</summary>
    public static RowIdentity Row(string ns, SearchItemKey key) => key.Row(ns, "vectors", "message.vectors");

    public static byte[] Protect(ContentProtector protector, string ns, SearchItemKey key, float[][] vectors)
    {
        var dimensions = vectors.Length == 0 ? 0 : vectors[0].Length;
        var plain = new byte[4 + (vectors.Length * dimensions * sizeof(float))];
        BinaryPrimitives.WriteInt32LittleEndian(plain, vectors.Length);
        for (var i = 0; i < vectors.Length; i++)
        {
            MemoryMarshal.AsBytes(vectors[i].AsSpan()).CopyTo(plain.AsSpan(4 + (i * dimensions * sizeof(float))));
        }

        return protector.Encrypt(plain, Row(ns, key));
    }

    /// <summary>
    /// Whether <paramref name="stored"/> decrypts as the item's vectors (an older version's indexer sealed a message's under
    /// its id alone). A data key not loaded yet counts as unreadable: the vectors are computed again.
    /// </summary>
    public static bool Readable(ContentProtector protector, string ns, SearchItemKey key, byte[] stored)
    {
        try
        {
            protector.Decrypt(stored, Row(ns, key));
            return true;
        }
        catch (ContentDecryptionException)
        {
            return false;
        }
    }

    public static float[][] Unprotect(ContentProtector protector, string ns, SearchItemKey key, byte[] stored, int dimensions)
    {
        var plain = protector.Decrypt(stored, Row(ns, key));
        var count = BinaryPrimitives.ReadInt32LittleEndian(plain);
        var vectors = new float[count][];
        for (var i = 0; i < count; i++)
        {
            vectors[i] = MemoryMarshal.Cast<byte, float>(plain.AsSpan(4 + (i * dimensions * sizeof(float)), dimensions * sizeof(float))).ToArray();
        }

        return vectors;
    }
}
