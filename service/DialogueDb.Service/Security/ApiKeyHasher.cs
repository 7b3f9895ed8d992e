using System.Security.Cryptography;
using System.Text;

namespace DialogueDb.Service.Security;

/// <summary>
/// API keys look like <c>ddb_&lt;keyId&gt;_&lt;secret&gt;</c>. Only HMAC-SHA-256(project hash secret, whole key) is ever stored;
/// the key id (not secret) finds the record, the hash is compared in constant time.
/// </summary>
internal sealed class ApiKeyHasher(byte[] hashSecret)
{
    private const string Prefix = "ddb_";

    public static byte[] NewHashSecret() => RandomNumberGenerator.GetBytes(32);

    /// <summary>A new key and its id. The key is shown once; store only <see cref="Hash"/> of it.</summary>
    public static (string KeyId, string Key) NewKey()
    {
        var keyId = Ulid.NewUlid().ToString().ToLowerInvariant();
        var secret = Base64UrlEncode(RandomNumberGenerator.GetBytes(32));
        return (keyId, $"{Prefix}{keyId}_{secret}");
    }

    public string Hash(string key)
    {
        Span<byte> mac = stackalloc byte[32];
        var bytes = Encoding.UTF8.GetBytes(key);
        HMACSHA256.HashData(hashSecret, bytes, mac);
        return Convert.ToBase64String(mac);
    }

    /// <summary>Extracts the key id, or null when the text cannot be a key of ours.</summary>
    public static string? KeyIdOf(ReadOnlySpan<char> key)
    {
        if (key.Length is < 32 or > 256 || !key.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return null;
        }

        var rest = key[Prefix.Length..];
        var separator = rest.IndexOf('_');
        return separator is 26 ? rest[..separator].ToString() : null;
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

    private static string Base64UrlEncode(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
