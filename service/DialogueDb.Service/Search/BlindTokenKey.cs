using System.Security.Cryptography;
using System.Text;
using DialogueDb.Service.Security;

namespace DialogueDb.Service.Search;

/// <summary>
/// Keys the blind keyword index: a term is stored only as HMAC-SHA-256(token key, term), cut to 16 bytes. The token key
/// is derived (HKDF-SHA-256) from key-ring material with its own label and the project id, so it is never a data key
/// and never decrypts anything; the same term in another project gives another token. It is derived from the ring's
/// oldest key (lowest id), which a rotation keeps: the tokens stay valid while new data keys come and go. Retiring that
/// key changes every token: the key's id is part of the index identity (<see cref="SearchIndexIdentity"/>), so the
/// indexer then re-indexes every namespace's items under the new key (old tokens match no query meanwhile).
/// </summary>
internal sealed class BlindTokenKey(Func<EncryptionKeyRing> currentRing, string projectId)
{
    public const int TokenLength = BlindToken.Length;
    private static readonly byte[] Label = "dialoguedb/search-token/v1"u8.ToArray();

    private (uint KeyId, byte[] Key)? _derived;

    public BlindTokenKey(ContentProtector protector, string projectId)
        : this(() => protector.Ring, projectId)
    {
    }

    /// <summary>The id of the ring key the tokens are derived from now (not secret: it names the key, it is no key).</summary>
    public uint KeyId => currentRing().KeyIds.Min();

    /// <summary>One term's token (a query's few terms); an indexing batch takes a <see cref="Tokenizer"/>.</summary>
    public BlindToken Token(string term)
    {
        using var tokenizer = Tokenizer();
        return tokenizer.Token(term);
    }

    /// <summary>Tokens for one batch of texts under the current key (see <see cref="BlindTokenizer"/>).</summary>
    public BlindTokenizer Tokenizer() => new(CurrentKey());

    private byte[] CurrentKey()
    {
        var ring = currentRing();
        var keyId = ring.KeyIds.Min();
        var derived = _derived;
        if (derived is { } d && d.KeyId == keyId)
        {
            return d.Key;
        }

        ring.TryGet(keyId, out var material);
        var key = HKDF.DeriveKey(HashAlgorithmName.SHA256, material, 32, salt: Label, info: Encoding.UTF8.GetBytes(projectId));
        _derived = (keyId, key);
        return key;
    }
}
