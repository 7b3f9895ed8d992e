using System.Security.Cryptography;

namespace DialogueDb.Operator.Tests.Provisioning;

/// <summary>
/// The real PostgreSQL 15 and Redis 7 that tests/infra/start-services.sh starts (their admin connections in
/// DIALOGUEDB_TEST_POSTGRES and DIALOGUEDB_TEST_REDIS). Without them a test skips with the reason; under CI (CI=true)
/// they must be there, so it fails instead of passing vacuously.
/// </summary>
public static class ProvisioningServers
{
    public const string PostgresVariable = "DIALOGUEDB_TEST_POSTGRES";
    public const string RedisVariable = "DIALOGUEDB_TEST_REDIS";

    /// <summary>The PostgreSQL superuser connection string, or a skip.</summary>
    public static string PostgresAdmin() => Required(PostgresVariable, "PostgreSQL");

    /// <summary>The Redis configuration string (no password: the test server's default user), or a skip.</summary>
    public static string RedisAdmin() => Required(RedisVariable, "Redis");

    /// <summary>A Kubernetes namespace no other test (or test run) uses.</summary>
    public static string UniqueNamespace(string stem = "tenant") => stem + "-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(5));

    /// <summary>A password like the operator generates.</summary>
    public static string NewPassword() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(24)).Replace('+', '-').Replace('/', '_');

    private static string Required(string variable, string server)
    {
        var value = Environment.GetEnvironmentVariable(variable);
        if (!string.IsNullOrWhiteSpace(value))
        {
            return value;
        }

        var reason = $"{variable} is not set: start {server} with tests/infra/start-services.sh and source its env file (make test does this).";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"CI must run the {server} provisioning tests: " + reason);
        }

        Assert.Skip(reason);
        return "";
    }
}
