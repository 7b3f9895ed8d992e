using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DialogueDb.Service.Storage.Migrations
{
    /// <summary>
    /// Issue 13: an item's blind-index postings move from one <c>search_terms</c> row per term into one encrypted column of
    /// its <c>search_items</c> row (a twentieth of the rows and index entries written per indexed message; at rest no token
    /// shows at all). The keyword analysis format went up with it (3), so the indexer indexes every stored item again:
    /// until then items keep their vectors and are found by meaning, not by keyword. The version index drops the kind, so
    /// that lookups by item id always take the primary key (with young statistics the planner took the version index and
    /// read the whole namespace). <c>search_items</c> keeps its row-level security and grants.
    /// </summary>
    public partial class SearchTermsInItems : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "search_terms");

            migrationBuilder.DropIndex(
                name: "IX_search_items_namespace_kind_version",
                table: "search_items");

            migrationBuilder.AddColumn<byte[]>(
                name: "terms",
                table: "search_items",
                type: "bytea",
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "IX_search_items_namespace_version",
                table: "search_items",
                columns: new[] { "namespace", "version" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_search_items_namespace_version",
                table: "search_items");

            migrationBuilder.DropColumn(
                name: "terms",
                table: "search_items");

            migrationBuilder.CreateTable(
                name: "search_terms",
                columns: table => new
                {
                    @namespace = table.Column<string>(name: "namespace", type: "character varying(128)", maxLength: 128, nullable: false, collation: "C"),
                    kind = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    token = table.Column<byte[]>(type: "bytea", nullable: false),
                    item_id = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false, collation: "C"),
                    frequency = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_search_terms", x => new { x.@namespace, x.kind, x.token, x.item_id });
                });

            migrationBuilder.CreateIndex(
                name: "IX_search_items_namespace_kind_version",
                table: "search_items",
                columns: new[] { "namespace", "kind", "version" });

            migrationBuilder.CreateIndex(
                name: "IX_search_terms_namespace_kind_item_id",
                table: "search_terms",
                columns: new[] { "namespace", "kind", "item_id" });

            migrationBuilder.Sql("""
                ALTER TABLE search_terms ENABLE ROW LEVEL SECURITY;
                ALTER TABLE search_terms FORCE ROW LEVEL SECURITY;
                CREATE POLICY namespace_isolation ON search_terms
                    USING (namespace = dialoguedb_request_namespace())
                    WITH CHECK (namespace = dialoguedb_request_namespace());
                """);
        }
    }
}
