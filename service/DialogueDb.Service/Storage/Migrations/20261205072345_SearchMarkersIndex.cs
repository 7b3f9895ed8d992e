using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DialogueDb.Service.Storage.Migrations
{
    /// <summary>
    /// Issue 12 (publish lag): an index of the removed-item markers of <c>search_items</c> alone (rows without vectors).
    /// The keyword step purges old markers every 256 index versions inside its transaction; through the version index
    /// that read every item of the namespace (93–300 ms at 300,000–345,000 items, growing with the index), and while the
    /// transaction was open the audit relay, which publishes only rows of transactions older than every running one,
    /// published nothing newer. The build reads the table once under the migration's lock (only the indexer writes it).
    /// </summary>
    public partial class SearchMarkersIndex : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateIndex(
                name: "IX_search_items_markers",
                table: "search_items",
                columns: new[] { "namespace", "kind", "version" },
                filter: "vectors IS NULL");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_search_items_markers",
                table: "search_items");
        }
    }
}
