using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DialogueDb.Service.Storage.Migrations
{
    /// <inheritdoc />
    public partial class Initial : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "dialogues",
                columns: table => new
                {
                    @namespace = table.Column<string>(name: "namespace", type: "character varying(128)", maxLength: 128, nullable: false, collation: "C"),
                    id = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false, collation: "C"),
                    status = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    label = table.Column<string>(type: "text", nullable: true),
                    thread_of = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: true, collation: "C"),
                    tags = table.Column<string>(type: "text", nullable: false),
                    metadata = table.Column<string>(type: "text", nullable: false),
                    state = table.Column<byte[]>(type: "bytea", nullable: false),
                    created = table.Column<long>(type: "bigint", nullable: false),
                    modified = table.Column<long>(type: "bigint", nullable: false),
                    ended_at = table.Column<long>(type: "bigint", nullable: true),
                    total_messages = table.Column<int>(type: "integer", nullable: false),
                    thread_count = table.Column<int>(type: "integer", nullable: false),
                    last_message_created = table.Column<long>(type: "bigint", nullable: true),
                    last_seq = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_dialogues", x => new { x.@namespace, x.id });
                });

            migrationBuilder.CreateTable(
                name: "memories",
                columns: table => new
                {
                    @namespace = table.Column<string>(name: "namespace", type: "character varying(128)", maxLength: 128, nullable: false, collation: "C"),
                    id = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false, collation: "C"),
                    value = table.Column<byte[]>(type: "bytea", nullable: false),
                    type = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    term = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    label = table.Column<string>(type: "text", nullable: true),
                    description = table.Column<string>(type: "text", nullable: true),
                    tags = table.Column<string>(type: "text", nullable: false),
                    metadata = table.Column<string>(type: "text", nullable: false),
                    created = table.Column<long>(type: "bigint", nullable: false),
                    modified = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_memories", x => new { x.@namespace, x.id });
                });

            migrationBuilder.CreateTable(
                name: "messages",
                columns: table => new
                {
                    @namespace = table.Column<string>(name: "namespace", type: "character varying(128)", maxLength: 128, nullable: false, collation: "C"),
                    dialogue_id = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false, collation: "C"),
                    seq = table.Column<long>(type: "bigint", nullable: false),
                    id = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false, collation: "C"),
                    role = table.Column<string>(type: "text", nullable: false),
                    name = table.Column<string>(type: "text", nullable: true),
                    content = table.Column<byte[]>(type: "bytea", nullable: false),
                    content_length = table.Column<int>(type: "integer", nullable: false),
                    tags = table.Column<string>(type: "text", nullable: false),
                    metadata = table.Column<string>(type: "text", nullable: false),
                    created = table.Column<long>(type: "bigint", nullable: false),
                    modified = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_messages", x => new { x.@namespace, x.dialogue_id, x.seq });
                });

            migrationBuilder.CreateIndex(
                name: "IX_dialogues_namespace_created_id",
                table: "dialogues",
                columns: new[] { "namespace", "created", "id" });

            migrationBuilder.CreateIndex(
                name: "IX_dialogues_namespace_thread_of_created_id",
                table: "dialogues",
                columns: new[] { "namespace", "thread_of", "created", "id" });

            migrationBuilder.CreateIndex(
                name: "IX_memories_namespace_created_id",
                table: "memories",
                columns: new[] { "namespace", "created", "id" });

            migrationBuilder.CreateIndex(
                name: "IX_messages_namespace_dialogue_id_id",
                table: "messages",
                columns: new[] { "namespace", "dialogue_id", "id" },
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "dialogues");

            migrationBuilder.DropTable(
                name: "memories");

            migrationBuilder.DropTable(
                name: "messages");
        }
    }
}
