using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DialogueDb.Service.Storage.Migrations
{
    /// <summary>
    /// Issue 13: each namespace index records how it was built (the embedder's model and vector length, the keyword
    /// analysis version) and the cursor of a rebuild in progress. Indexes built before have no model recorded: the
    /// indexer rebuilds them from the stored data (searches answer from the rebuilt part meanwhile, never from vectors of
    /// an unknown model).
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
