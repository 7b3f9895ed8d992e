using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DialogueDb.Service.Storage.Migrations
{
    /// <summary>
    /// Issue 13: an item the embedder failed for is tried again on a slow schedule instead of waiting for
    /// <c>dialoguedb reindex</c>: its entry in <c>search_vector_queue</c> records how many attempts failed and when the
    /// next one is due. Entries failed before this version are due at once (0). The table keeps its row-level security and
    /// grants.
    /// </summary>
    public partial class SearchVectorRetries : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<int>(
                name: "attempts",
                table: "search_vector_queue",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<long>(
                name: "next_attempt",
                table: "search_vector_queue",
                type: "bigint",
                nullable: false,
                defaultValue: 0L);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "attempts",
                table: "search_vector_queue");

            migrationBuilder.DropColumn(
                name: "next_attempt",
                table: "search_vector_queue");
        }
    }
}
