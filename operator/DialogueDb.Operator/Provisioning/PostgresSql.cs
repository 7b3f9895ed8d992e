using System.Text.RegularExpressions;
using Npgsql;

namespace DialogueDb.Operator.Provisioning;

/// <summary>
/// SQL text for the shared PostgreSQL server, and running it: names are validated then quoted, values are literals with
/// their quotes doubled. Commands run as sent, one at a time, on the caller's connection.
/// </summary>
internal static partial class PostgresSql
{
    public static async Task<NpgsqlConnection> OpenAsync(string connectionString, CancellationToken ct)
    {
        var connection = new NpgsqlConnection(connectionString);
        try
        {
            await connection.OpenAsync(ct);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    public static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(ct);
    }

    public static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync(ct))!;
    }

    /// <summary>Contract: names used in SQL text are plain lower-case identifiers, so quoting them can never go wrong.</summary>
    public static void ValidateIdentifier(string? value, string name)
    {
        if (value is null || !Identifier().IsMatch(value))
        {
            throw new ArgumentException($"'{value}' is not a valid name: use ^[a-z_][a-z0-9_]{{0,62}}$.", name);
        }
    }

    public static string Quote(string identifier) => "\"" + identifier + "\"";

    /// <summary>Quotes any role name (one found in the catalog, not one of ours): double quotes are doubled.</summary>
    public static string QuoteAny(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>A string literal (standard_conforming_strings is on since PG 9.1, so only quotes need doubling).</summary>
    public static string Literal(string value)
    {
        if (value.Contains('\\', StringComparison.Ordinal) || value.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("Literal values must not contain backslashes or NUL.", nameof(value));
        }

        return "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";
    }

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$")]
    private static partial Regex Identifier();
}
