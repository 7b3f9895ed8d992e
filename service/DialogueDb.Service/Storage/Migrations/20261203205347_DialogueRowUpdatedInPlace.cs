using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DialogueDb.Service.Storage.Migrations
{
    /// <summary>
    /// Issue 12: every append updates its dialogue's row. The index on <c>modified</c> made each of those updates write
    /// new entries in all four of the table's indexes and leave a dead version behind (no heap-only update possible);
    /// without it, and with room on each page (fillfactor 70, for pages written from now on), the update stays on its
    /// page. Retention, the index's only user, scans the table once per batch instead.
    /// </summary>
    public partial class DialogueRowUpdatedInPlace : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_dialogues_modified",
                table: "dialogues");

            migrationBuilder.AlterTable(
                name: "dialogues")
                .Annotation("Npgsql:StorageParameter:fillfactor", 70);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AlterTable(
                name: "dialogues")
                .OldAnnotation("Npgsql:StorageParameter:fillfactor", 70);

            migrationBuilder.CreateIndex(
                name: "IX_dialogues_modified",
                table: "dialogues",
                column: "modified");
        }
    }
}
