using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace DialogueDb.Operator.Provisioning;

/// <summary>
/// PostgreSQL's stored form of a SCRAM-SHA-256 password (RFC 5802/7677, as <c>pg_authid.rolpassword</c> holds it):
/// <c>SCRAM-SHA-256$iterations:salt$StoredKey:ServerKey</c>. Sending this instead of the password means the clear
/// password never reaches the server, its statement log or <c>pg_stat_activity</c>, and PostgreSQL stores it as is.
/// </summary>
internal static class ScramVerifier
{
    /// <summary>PostgreSQL's own default (scram_iterations in PG16+, fixed in PG15).</summary>
    public const int Iterations = 4096;

    public static string Create(string password, ReadOnlySpan<byte> salt, int iterations = Iterations)
    {
        if (!Passwords.IsSupported(password))
        {
            // Never echo the password: say only what is wrong with it.
            throw new ArgumentException(Passwords.Rule, nameof(password));
        }

        var salted = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, 32);
        try
        {
            var clientKey = HMACSHA256.HashData(salted, "Client Key"u8);
            var storedKey = SHA256.HashData(clientKey);
            var serverKey = HMACSHA256.HashData(salted, "Server Key"u8);
            var (saltText, storedText, serverText) =
                (Convert.ToBase64String(salt), Convert.ToBase64String(storedKey), Convert.ToBase64String(serverKey));
            return string.Create(CultureInfo.InvariantCulture, $"SCRAM-SHA-256${iterations}:{saltText}${storedText}:{serverText}");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(salted);
        }
    }

    /// <summary>A verifier with a fresh random 16-byte salt.</summary>
    public static string Create(string password) => Create(password, RandomNumberGenerator.GetBytes(16));
}
