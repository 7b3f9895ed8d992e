using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace DialogueDb.Service.Storage.Migrations
{
    /// <summary>
    /// Issue 13: indexing in two steps. The indexer makes an item searchable by keyword first, in commit order, and queues
    /// it here for its vectors, which follow as fast as the embedder allows; an item the embeddings endpoint refuses stays
    /// here marked failed. Items indexed before this version already have their vectors. Under the same namespace
    /// row-level security as the other index tables; only the indexer (the maintenance role) uses it.
    /// </summary>
    public partial class SearchVectorQueue : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "search_vector_queue",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    @namespace = table.Column<string>(name: "namespace", type: "character varying(128)", maxLength: 128, nullable: false, collation: "C"),
                    kind = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    item_id = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false, collation: "C"),
                    dialogue_id = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: true, collation: "C"),
                    version = table.Column<long>(type: "bigint", nullable: false),
                    enqueued = table.Column<long>(type: "bigint", nullable: false),
                    failed = table.Column<bool>(type: "boolean", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_search_vector_queue", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_search_vector_queue_namespace_kind_item_id",
                table: "search_vector_queue",
                columns: new[] { "namespace", "kind", "item_id" },
                unique: true);

            migrationBuilder.Sql("""
                ALTER TABLE search_vector_queue ENABLE ROW LEVEL SECURITY;
                ALTER TABLE search_vector_queue FORCE ROW LEVEL SECURITY;
                CREATE POLICY namespace_isolation ON search_vector_queue
                    USING (namespace = dialoguedb_request_namespace())
                    WITH CHECK (namespace = dialoguedb_request_namespace());
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "search_vector_queue");
        }
    }
}
