using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using k8s.Models;
using static DialogueDb.Operator.Reconciliation.ProjectNaming;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>Reading and writing the text values and annotations of the Secrets the operator generates.</summary>
internal static class SecretData
{
    /// <summary>A value as UTF-8 text; empty when the Secret has no such key.</summary>
    public static string Text(V1Secret secret, string key) =>
        secret.Data?.TryGetValue(key, out var value) == true ? Encoding.UTF8.GetString(value) : "";

    /// <summary>The rotation counter the operator last applied to this Secret (0 when never rotated).</summary>
    public static int Rotation(V1Secret secret) =>
        secret.Metadata.Annotations?.TryGetValue(RotationAnnotation, out var value) == true
            && int.TryParse(value, CultureInfo.InvariantCulture, out var n) ? n : 0;

    public static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);

    public static byte[] Utf8(string value) => Encoding.UTF8.GetBytes(value);

    /// <summary>A time as round-trip ("O") text in UTC.</summary>
    public static byte[] Timestamp(DateTimeOffset value) => Utf8(value.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));

    public static DateTimeOffset ParseTimestamp(byte[] value) =>
        DateTimeOffset.Parse(Encoding.UTF8.GetString(value), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    /// <summary>32 random bytes as URL-safe text: no quoting trouble in connection strings or SQL literals.</summary>
    public static string NewPassword() =>
        Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
