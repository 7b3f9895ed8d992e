using System.Buffers;
using System.IO.Hashing;
using System.Security.Cryptography;
using System.Text;

namespace DialogueDb.Service.Security;

/// <summary>
/// API keys look like <c>ddb_&lt;key id: 12&gt;_&lt;secret: 40&gt;&lt;checksum: 6&gt;</c> (base62). The fixed prefix lets secret
/// scanners recognise them; the CRC-32 checksum rejects typos and random strings without a lookup. The key id is not
/// secret (it names the key in lists and audit events). Only HMAC-SHA-256(project hash secret, whole key) is stored,
/// and it is compared in constant time.
/// </summary>
internal sealed class ApiKeyHasher(byte[] hashSecret)
{
    public const string Prefix = "ddb_";
    private const string Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    private const int IdLength = 12;
    private const int SecretLength = 40;
    private const int ChecksumLength = 6;
    private static readonly SearchValues<char> Base62 = SearchValues.Create(Alphabet);
    public const int KeyLength = 4 + IdLength + 1 + SecretLength + ChecksumLength;

    public static byte[] NewHashSecret() => RandomNumberGenerator.GetBytes(32);

    /// <summary>A new key and its id. The key is shown once; store only <see cref="Hash"/> of it.</summary>
    public static (string KeyId, string Key) NewKey()
    {
        var keyId = RandomNumberGenerator.GetString(Alphabet, IdLength);
        var body = $"{Prefix}{keyId}_{RandomNumberGenerator.GetString(Alphabet, SecretLength)}";
        return (keyId, body + Checksum(body));
    }

    public string Hash(string key)
    {
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(hashSecret, Encoding.UTF8.GetBytes(key), mac);
        return Convert.ToBase64String(mac);
    }

    /// <summary>The key id when <paramref name="key"/> is well-formed with a valid checksum, else null (no lookup needed).</summary>
    public static string? KeyIdOf(ReadOnlySpan<char> key)
    {
        if (key.Length != KeyLength || !key.StartsWith(Prefix, StringComparison.Ordinal) || key[Prefix.Length + IdLength] != '_')
        {
            return null;
        }

        var id = key.Slice(Prefix.Length, IdLength);
        var secret = key.Slice(Prefix.Length + IdLength + 1, SecretLength);
        if (id.ContainsAnyExcept(Base62) || secret.ContainsAnyExcept(Base62))
        {
            return null;
        }

        var body = key[..^ChecksumLength];
        return key[^ChecksumLength..].SequenceEqual(Checksum(body)) ? id.ToString() : null;
    }

    public bool Matches(string key, string storedHash)
    {
        Span<byte> expected = stackalloc byte[32];
        if (!Convert.TryFromBase64String(storedHash, expected, out var written) || written != 32)
        {
            return false;
        }

        Span<byte> actual = stackalloc byte[32];
        HMACSHA256.HashData(hashSecret, Encoding.UTF8.GetBytes(key), actual);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    /// <summary>CRC-32 of the key body as 6 base62 digits.</summary>
    private static string Checksum(ReadOnlySpan<char> body)
    {
        var crc = Crc32.HashToUInt32(Encoding.ASCII.GetBytes(body.ToString()));
        Span<char> digits = stackalloc char[ChecksumLength];
        for (var i = ChecksumLength - 1; i >= 0; i--)
        {
            digits[i] = Alphabet[(int)(crc % 62)];
            crc /= 62;
        }

        return digits.ToString();
    }
}
