using System.Data.Common;
using Npgsql;

namespace DialogueDb.Service.Security;

/// <summary>
/// Encrypts free-text values (dialogue and memory labels, memory descriptions, message names) that are still stored as
/// plaintext. PostgreSQL: those the SealFreeText migration kept (a NUL byte, then the UTF-8 text), run by
/// <c>dialoguedb migrate</c> while a <c>pending_backfills</c> row asks for it. SQLite: text values an older version
/// wrote (the columns were declared TEXT and hold either), at every start of the embedded server. A value is replaced only
/// if it is still the one that was read, so a concurrent API write (already encrypted) wins.
/// </summary>
internal sealed class FreeTextSealer(ContentProtector protector)
{
    public const string BackfillName = "seal-free-text";
    private const int BatchSize = 500;

    private static readonly Field[] Fields =
    [
        new("dialogues", "label", ["namespace", "id"], k => RowIdentity.DialogueLabel(k[0], k[1])),
        new("memories", "label", ["namespace", "id"], k => RowIdentity.MemoryLabel(k[0], k[1])),
        new("memories", "description", ["namespace", "id"], k => RowIdentity.MemoryDescription(k[0], k[1])),
        new("messages", "name", ["namespace", "dialogue_id", "id"], k => RowIdentity.MessageName(k[0], k[1], k[2])),
    ];

    /// <summary>True when the SealFreeText migration left plaintext for the sealer (so the key ring is needed).</summary>
    public static async Task<bool> IsPendingAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand("SELECT EXISTS (SELECT 1 FROM pending_backfills WHERE name = $1)", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = BackfillName });
        return (bool)(await command.ExecuteScalarAsync(ct))!;
    }

    /// <summary>
    /// PostgreSQL, over the owner's connection (the one that ran the migrations): seals everything in one transaction and
    /// removes the pending row; concurrent runs wait on that row and the second finds nothing left. Returns the values sealed.
    /// </summary>
    public async Task<long> SealPostgresAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        await using var tx = await connection.BeginTransactionAsync(ct);
        await using (var claim = new NpgsqlCommand("SELECT name FROM pending_backfills WHERE name = $1 FOR UPDATE", connection, tx))
        {
            claim.Parameters.Add(new NpgsqlParameter { Value = BackfillName });
            if (await claim.ExecuteScalarAsync(ct) is null)
            {
                return 0;
            }
        }

        // The owner is subject to the forced row-level security, which would hide every row: within this transaction
        // only, it looks past the policies (the API role, not the owner, is unaffected).
        await ExecuteAsync(connection, tx, ForceRowSecurity("NO FORCE"), ct);
        long count = 0;
        foreach (var field in Fields)
        {
            count += await SealFieldAsync(connection, tx, field, postgres: true, ct);
        }

        await ExecuteAsync(connection, tx, ForceRowSecurity("FORCE") + $"DELETE FROM pending_backfills WHERE name = '{BackfillName}';", ct);
        await tx.CommitAsync(ct);
        return count;
    }

    /// <summary>SQLite (no row-level security): seals text values left by an older version. Returns the values sealed.</summary>
    public async Task<long> SealSqliteAsync(DbConnection connection, CancellationToken ct)
    {
        long count = 0;
        foreach (var field in Fields)
        {
            count += await SealFieldAsync(connection, null, field, postgres: false, ct);
        }

        return count;
    }

    private async Task<long> SealFieldAsync(DbConnection connection, DbTransaction? tx, Field field, bool postgres, CancellationToken ct)
    {
        var column = field.Column;
        var plaintext = postgres ? $"substring({column} from 1 for 1) = '\\x00'::bytea" : $"typeof({column}) = 'text'";
        var select = $"SELECT {string.Join(", ", field.Key)}, {column} FROM {field.Table} WHERE {plaintext} LIMIT {BatchSize}";
        var update = $"UPDATE {field.Table} SET {column} = @sealed WHERE " +
            string.Join(" AND ", field.Key.Select((k, i) => $"{k} = @k{i}")) + $" AND {column} = @old";
        long count = 0;
        while (true)
        {
            var batch = new List<(string[] Key, object Stored, string Text)>();
            await using (var command = Command(connection, tx, select))
            await using (var reader = await command.ExecuteReaderAsync(ct))
            {
                while (await reader.ReadAsync(ct))
                {
                    var key = field.Key.Select((_, i) => reader.GetString(i)).ToArray();
                    if (postgres)
                    {
                        var stored = reader.GetFieldValue<byte[]>(field.Key.Length);
                        batch.Add((key, stored, ContentProtector.LegacyText(stored)!));
                    }
                    else
                    {
                        var text = reader.GetString(field.Key.Length);
                        batch.Add((key, text, text));
                    }
                }
            }

            if (batch.Count == 0)
            {
                return count;
            }

            foreach (var (key, stored, text) in batch)
            {
                await using var command = Command(connection, tx, update);
                Add(command, "sealed", protector.Encrypt(text, field.Identity(key)));
                for (var i = 0; i < key.Length; i++)
                {
                    Add(command, "k" + i, key[i]);
                }

                Add(command, "old", stored);
                count += await command.ExecuteNonQueryAsync(ct);
            }
        }
    }

    private static string ForceRowSecurity(string force) =>
        $"ALTER TABLE dialogues {force} ROW LEVEL SECURITY; ALTER TABLE memories {force} ROW LEVEL SECURITY; " +
        $"ALTER TABLE messages {force} ROW LEVEL SECURITY;";

    private static DbCommand Command(DbConnection connection, DbTransaction? tx, string sql)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = tx;
        return command;
    }

    private static void Add(DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }

    private static async Task ExecuteAsync(DbConnection connection, DbTransaction tx, string sql, CancellationToken ct)
    {
        await using var command = Command(connection, tx, sql);
        await command.ExecuteNonQueryAsync(ct);
    }

    private sealed record Field(string Table, string Column, string[] Key, Func<string[], RowIdentity> Identity);
}
