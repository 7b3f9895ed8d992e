using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DialogueDb.Service.Storage.Migrations
{
    /// <summary>
    /// Issue 13: each namespace index records how it was built (the embedder's model and vector length, the token key's
    /// id, the keyword analysis version) and the cursor of a rebuild in progress. Indexes built before were built by the
    /// in-process model with analysis format 1 under an unrecorded key: the indexer re-indexes their items over them (the
    /// vectors are the same model's, so they stay searchable meanwhile).
    /// </summary>
    public partial class SearchIndexIdentity : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<int>(
                name: "format",
                table: "search_namespaces",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<string>(
                name: "model",
                table: "search_namespaces",
                type: "character varying(300)",
                maxLength: 300,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "rebuild_cursor",
                table: "search_namespaces",
                type: "character varying(300)",
                maxLength: 300,
                nullable: true);

            // The owner runs migrations and is subject to the forced row-level security, which would hide every row:
            // within this transaction (which already holds the table's exclusive lock) it looks past the policy.
            migrationBuilder.Sql($"""
                ALTER TABLE search_namespaces NO FORCE ROW LEVEL SECURITY;
                UPDATE search_namespaces
                SET model = '{Search.SearchSchemaUpgrade.LegacyIdentity}', format = {Search.SearchSchemaUpgrade.LegacyFormat};
                ALTER TABLE search_namespaces FORCE ROW LEVEL SECURITY;
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "format",
                table: "search_namespaces");

            migrationBuilder.DropColumn(
                name: "model",
                table: "search_namespaces");

            migrationBuilder.DropColumn(
                name: "rebuild_cursor",
                table: "search_namespaces");
        }
    }
}
