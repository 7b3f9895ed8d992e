using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace DialogueDb.Service.Storage.Migrations
{
    /// <inheritdoc />
    public partial class AuditOutboxAndRetention : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "outbox",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    event_id = table.Column<string>(type: "character varying(26)", maxLength: 26, nullable: false),
                    @namespace = table.Column<string>(name: "namespace", type: "character varying(128)", maxLength: 128, nullable: false, collation: "C"),
                    subject = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    payload = table.Column<byte[]>(type: "bytea", nullable: false),
                    occurred = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_outbox", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_memories_term_modified",
                table: "memories",
                columns: new[] { "term", "modified" });

            migrationBuilder.CreateIndex(
                name: "IX_dialogues_modified",
                table: "dialogues",
                column: "modified");

            migrationBuilder.CreateIndex(
                name: "IX_outbox_namespace_subject",
                table: "outbox",
                columns: new[] { "namespace", "subject" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "outbox");

            migrationBuilder.DropIndex(
                name: "IX_memories_term_modified",
                table: "memories");

            migrationBuilder.DropIndex(
                name: "IX_dialogues_modified",
                table: "dialogues");
        }
    }
}
