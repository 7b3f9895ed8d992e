using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace DialogueDb.Service.Security;

/// <summary>
/// Encrypts message content, memory values and dialogue state with AES-256-GCM under the project's active data key.
/// Layout: <c>0x01 | key id (uint32 BE) | nonce (12) | ciphertext | tag (16)</c>. The associated data is the project id
/// and the row identity, so a ciphertext copied into another row or project fails authentication instead of decrypting.
/// </summary>
/// <param name="rereadRing">Re-reads the key ring at once (a replica whose Secret volume lags behind another's).</param>
internal sealed class ContentProtector(Func<EncryptionKeyRing> currentRing, string projectId, Action? rereadRing = null)
{
    public const byte FormatVersion = 1;
    private const int HeaderLength = 1 + 4 + NonceLength;
    private const int NonceLength = 12;
    private const int TagLength = 16;

    public ContentProtector(EncryptionKeyRing ring, string projectId)
        : this(() => ring, projectId)
    {
    }

    /// <summary>The project whose data this protects (part of every ciphertext's associated data).</summary>
    public string ProjectId => projectId;

    /// <summary>The key ring in force now (it follows rotations of the key file).</summary>
    public EncryptionKeyRing Ring => currentRing();

    public byte[] Encrypt(string plaintext, RowIdentity row) => Encrypt(Encoding.UTF8.GetBytes(plaintext), row);

    public byte[] Encrypt(ReadOnlySpan<byte> plaintext, RowIdentity row)
    {
        var ring = currentRing();
        var output = new byte[HeaderLength + plaintext.Length + TagLength];
        output[0] = FormatVersion;
        BinaryPrimitives.WriteUInt32BigEndian(output.AsSpan(1, 4), ring.ActiveId);
        var nonce = output.AsSpan(5, NonceLength);
        RandomNumberGenerator.Fill(nonce);
        CipherFor(ring.ActiveKey).Encrypt(nonce, plaintext, output.AsSpan(HeaderLength, plaintext.Length),
            output.AsSpan(HeaderLength + plaintext.Length), AssociatedData(row));
        return output;
    }

    /// <summary>The UTF-8 plaintext; throws <see cref="ContentDecryptionException"/> on any tampering, move or unknown key.</summary>
    public byte[] Decrypt(byte[] ciphertext, RowIdentity row)
    {
        if (ciphertext.Length < HeaderLength + TagLength || ciphertext[0] != FormatVersion)
        {
            throw new ContentDecryptionException("unknown ciphertext format");
        }

        var keyId = KeyIdOf(ciphertext);
        if (!currentRing().TryGet(keyId, out var key))
        {
            // Another replica may already write with a key this one has not read yet: look again before giving up.
            rereadRing?.Invoke();
            if (!currentRing().TryGet(keyId, out key))
            {
                throw new UnknownDataKeyException(keyId);
            }
        }

        var length = ciphertext.Length - HeaderLength - TagLength;
        var plaintext = new byte[length];
        try
        {
            CipherFor(key).Decrypt(ciphertext.AsSpan(5, NonceLength), ciphertext.AsSpan(HeaderLength, length),
                ciphertext.AsSpan(HeaderLength + length), plaintext, AssociatedData(row));
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new ContentDecryptionException("authentication failed (tampered, moved to another row, or wrong key)");
        }

        return plaintext;
    }

    public string DecryptString(byte[] ciphertext, RowIdentity row) => Encoding.UTF8.GetString(Decrypt(ciphertext, row));

    /// <summary>An optional free-text field (label, description, name) as stored: encrypted, or null when absent.</summary>
    public byte[]? EncryptText(string? text, RowIdentity row) => text is null ? null : Encrypt(text, row);

    /// <summary>
    /// The plaintext of an optional free-text field. A value still in the plaintext form the SealFreeText migration
    /// leaves for the <see cref="FreeTextSealer"/> (<see cref="LegacyPlaintext"/>) is refused like a failed tag: the
    /// sealer runs within <c>dialoguedb migrate</c> (in one transaction, before any server of this version serves) and
    /// embedded SQLite seals at start, so such a value can only have been written into the database by someone else.
    /// </summary>
    public string? DecryptText(byte[]? stored, RowIdentity row) => stored switch
    {
        null => null,
        [LegacyPlaintext, ..] => throw new ContentDecryptionException("plaintext where a sealed value belongs"),
        _ => DecryptString(stored, row),
    };

    /// <summary>First byte of a free-text value still in plaintext (NUL is refused in every text field, so no text starts so).</summary>
    public const byte LegacyPlaintext = 0;

    /// <summary>The text of a value in the SealFreeText migration's plaintext form, for the sealer; null for any other value.</summary>
    public static string? LegacyText(byte[] stored) =>
        stored is [LegacyPlaintext, ..] ? Encoding.UTF8.GetString(stored.AsSpan(1)) : null;

    public static uint KeyIdOf(byte[] ciphertext) => BinaryPrimitives.ReadUInt32BigEndian(ciphertext.AsSpan(1, 4));

    /// <summary>
    /// This thread's AES-GCM instance for the key: setting up a cipher context per call cost more than the encryption of a
    /// short message. One slot per thread (instances are not thread-safe); a rotated key (another array) replaces it.
    /// </summary>
    private static AesGcm CipherFor(byte[] key)
    {
        if (!ReferenceEquals(t_cipherKey, key) || t_cipher is null)
        {
            t_cipher?.Dispose();
            t_cipher = new AesGcm(key, TagLength);
            t_cipherKey = key;
        }

        return t_cipher;
    }

    [ThreadStatic]
    private static AesGcm? t_cipher;

    [ThreadStatic]
    private static byte[]? t_cipherKey;

    private byte[] AssociatedData(RowIdentity row)
    {
        // Length-prefixed fields, so no two different identities produce the same bytes.
        var buffer = new List<byte>(128);
        Append(buffer, "dialoguedb/v1");
        Append(buffer, projectId);
        Append(buffer, row.Kind);
        Append(buffer, row.Namespace);
        Append(buffer, row.Id);
        Append(buffer, row.ChildId ?? "");
        return [.. buffer];
    }

    private static void Append(List<byte> buffer, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, bytes.Length);
        buffer.AddRange(length);
        buffer.AddRange(bytes);
    }
}
