using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace DialogueDb.Operator.Provisioning;

/// <summary>
/// The names a project gets on the shared servers, derived only from its Kubernetes namespace and name, so the
/// operator finds the same database, roles and Redis user again after a restart without storing them anywhere.
/// </summary>
/// <remarks>
/// Contract: every PostgreSQL name matches <c>^[a-z_][a-z0-9_]{0,62}$</c> (a plain identifier, at most 63 bytes) and
/// starts with <c>ddb_</c>. Sanitising ("-" and "." become "_") and truncation can make two projects' readable parts
/// equal (<c>a-b/c</c> and <c>a/b-c</c>), so every name always ends in a hash of the full "namespace/name": the same
/// project always gets the same names, and two projects never share one (up to a 40-bit hash collision).
/// </remarks>
internal sealed partial record ProjectIdentity(
    string ProjectId,
    string Database,
    string OwnerRole,
    string ApiRole,
    string MaintenanceRole,
    string RedisUser,
    string RedisKeyPrefix)
{
    private const string Prefix = "ddb_";
    private const int MaxIdentifierBytes = 63;
    private const int HashChars = 10;

    /// <summary>Role suffixes; the longest decides how much of the readable part fits.</summary>
    private const string OwnerSuffix = "_owner";
    private const string ApiSuffix = "_api";
    private const string MaintenanceSuffix = "_maint";

    private const int MaxStemChars = MaxIdentifierBytes - 4 /* ddb_ */ - 1 /* _ */ - HashChars - 6 /* _owner, _maint */;

    /// <summary>Names of the project <paramref name="name"/> in the Kubernetes namespace <paramref name="namespace"/>.</summary>
    /// <exception cref="ArgumentException">The namespace is not a DNS label or the name not a DNS subdomain.</exception>
    public static ProjectIdentity For(string @namespace, string name)
    {
        ArgumentNullException.ThrowIfNull(@namespace);
        ArgumentNullException.ThrowIfNull(name);
        if (@namespace.Length > 63 || !DnsLabel().IsMatch(@namespace))
        {
            throw new ArgumentException(
                "The namespace must be a Kubernetes DNS label ([a-z0-9-], at most 63 characters).", nameof(@namespace));
        }

        if (name.Length > 253 || !DnsSubdomain().IsMatch(name))
        {
            throw new ArgumentException(
                "The project name must be a Kubernetes DNS subdomain ([a-z0-9.-], at most 253 characters).", nameof(name));
        }

        var projectId = @namespace + "/" + name;
        var stem = Sanitize(@namespace + "_" + name);
        if (stem.Length > MaxStemChars)
        {
            stem = stem[..MaxStemChars].TrimEnd('_');
        }

        var database = Prefix + stem + "_" + Hash(projectId);
        return new ProjectIdentity(
            projectId,
            database,
            database + OwnerSuffix,
            database + ApiSuffix,
            database + MaintenanceSuffix,
            database,
            RedisKeyPrefixFor(projectId));
    }

    /// <summary>
    /// The service's Redis key prefix for a project id: <c>ddb:{projectId}:</c>, the same shape as the service's default
    /// (RedisKeys.DefaultPrefix). The braces are a Redis Cluster hash tag, so all of a project's keys share a slot.
    /// </summary>
    public static string RedisKeyPrefixFor(string projectId) => "ddb:{" + projectId + "}:";

    private static string Sanitize(string value)
    {
        var builder = new StringBuilder(value.Length);
        foreach (var c in value)
        {
            builder.Append(c is >= 'a' and <= 'z' or >= '0' and <= '9' ? c : '_');
        }

        return builder.ToString();
    }

    private static string Hash(string projectId)
    {
        var digest = SHA256.HashData(Encoding.UTF8.GetBytes(projectId));
        return Convert.ToHexStringLower(digest.AsSpan(0, HashChars / 2));
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex DnsLabel();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")]
    private static partial Regex DnsSubdomain();
}
