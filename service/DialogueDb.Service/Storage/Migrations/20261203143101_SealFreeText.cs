using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DialogueDb.Service.Storage.Migrations
{
    /// <summary>
    /// Issue 14 §2: dialogue and memory labels, memory descriptions and message names become encrypted (bytea). Existing
    /// text cannot be encrypted here (migrations have no keys): it is kept as a NUL byte followed by its UTF-8 bytes (NUL
    /// is refused in every text field, so no value starts so) and a <c>pending_backfills</c> row asks the
    /// <see cref="Security.FreeTextSealer"/>, which <c>dialoguedb migrate</c> runs next with the key ring, to encrypt it.
    /// Until then the API reads such values as plaintext.
    /// </summary>
    public partial class SealFreeText : Migration
    {
        private static readonly (string Table, string Column)[] Columns =
            [("dialogues", "label"), ("memories", "label"), ("memories", "description"), ("messages", "name")];

        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            foreach (var (table, column) in Columns)
            {
                migrationBuilder.Sql(
                    $"ALTER TABLE {table} ALTER COLUMN {column} TYPE bytea USING '\\x00'::bytea || convert_to({column}, 'UTF8');");
            }

            // The owner runs migrations and is subject to the forced row-level security, which would hide every row:
            // within this transaction (which already holds the tables' exclusive locks) it looks past the policies.
            migrationBuilder.Sql($"""
                CREATE TABLE pending_backfills (name varchar(64) PRIMARY KEY);
                ALTER TABLE dialogues NO FORCE ROW LEVEL SECURITY;
                ALTER TABLE memories NO FORCE ROW LEVEL SECURITY;
                ALTER TABLE messages NO FORCE ROW LEVEL SECURITY;
                INSERT INTO pending_backfills (name) SELECT '{Security.FreeTextSealer.BackfillName}'
                WHERE EXISTS (SELECT 1 FROM dialogues WHERE label IS NOT NULL)
                   OR EXISTS (SELECT 1 FROM memories WHERE label IS NOT NULL OR description IS NOT NULL)
                   OR EXISTS (SELECT 1 FROM messages WHERE name IS NOT NULL);
                ALTER TABLE dialogues FORCE ROW LEVEL SECURITY;
                ALTER TABLE memories FORCE ROW LEVEL SECURITY;
                ALTER TABLE messages FORCE ROW LEVEL SECURITY;
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder) =>
            throw new NotSupportedException("Encrypted labels, descriptions and names cannot be turned back into text by a migration.");
    }
}
