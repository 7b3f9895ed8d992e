using System.Security.Cryptography;
using System.Text;

namespace DialogueDb.Service.Search;

/// <summary>
/// Where a term becomes its blind token (HMAC-SHA-256 of its UTF-8 under the token key, cut to
/// <see cref="BlindToken.Length"/> bytes), for one indexing batch or one query. One HMAC context is reused for every
/// term (a one-shot HMAC sets up and tears down its context each time, 2.4 times the cost of the hash itself for a
/// word) and each distinct term is hashed once. The terms it remembers are the batch's own and go with it: dispose it
/// when the batch is indexed. Not thread-safe: one batch, one thread at a time.
/// </summary>
internal sealed class BlindTokenizer(byte[] key) : IDisposable
{
    private readonly IncrementalHash _hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
    private readonly Dictionary<string, BlindToken> _seen = new(StringComparer.Ordinal);

    public BlindToken Token(string term)
    {
        if (_seen.TryGetValue(term, out var known))
        {
            return known;
        }

        var length = Encoding.UTF8.GetByteCount(term);
        var utf8 = length <= 256 ? stackalloc byte[length] : new byte[length];
        Encoding.UTF8.GetBytes(term, utf8);
        _hmac.AppendData(utf8);
        Span<byte> hash = stackalloc byte[HMACSHA256.HashSizeInBytes];
        _hmac.GetHashAndReset(hash);
        var token = BlindToken.Read(hash);
        _seen[term] = token;
        return token;
    }

    public void Dispose()
    {
        _seen.Clear();
        _hmac.Dispose();
    }
}
