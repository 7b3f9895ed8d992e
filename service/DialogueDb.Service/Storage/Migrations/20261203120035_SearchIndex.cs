using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace DialogueDb.Service.Storage.Migrations
{
    /// <summary>
    /// The search index (issue 13): the queue the API appends to in the writing transaction, the items' encrypted vectors,
    /// the blind index's HMAC postings and each namespace's change counter. Every table is under the same namespace
    /// row-level security as the data tables; the indexer works as the maintenance role (BYPASSRLS).
    /// </summary>
    public partial class SearchIndex : Migration
    {
        private static readonly string[] Tables = ["search_queue", "search_items", "search_terms", "search_namespaces"];

        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "search_items",
                columns: table => new
                {
                    @namespace = table.Column<string>(name: "namespace", type: "character varying(128)", maxLength: 128, nullable: false, collation: "C"),
                    kind = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    item_id = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false, collation: "C"),
                    dialogue_id = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: true, collation: "C"),
                    version = table.Column<long>(type: "bigint", nullable: false),
                    vectors = table.Column<byte[]>(type: "bytea", nullable: true),
                    length = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_search_items", x => new { x.@namespace, x.kind, x.item_id });
                });

            migrationBuilder.CreateTable(
                name: "search_namespaces",
                columns: table => new
                {
                    @namespace = table.Column<string>(name: "namespace", type: "character varying(128)", maxLength: 128, nullable: false, collation: "C"),
                    kind = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    version = table.Column<long>(type: "bigint", nullable: false),
                    floor = table.Column<long>(type: "bigint", nullable: false),
                    items = table.Column<long>(type: "bigint", nullable: false),
                    total_length = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_search_namespaces", x => new { x.@namespace, x.kind });
                });

            migrationBuilder.CreateTable(
                name: "search_queue",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    @namespace = table.Column<string>(name: "namespace", type: "character varying(128)", maxLength: 128, nullable: false, collation: "C"),
                    kind = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    item_id = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false, collation: "C"),
                    dialogue_id = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: true, collation: "C"),
                    enqueued = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_search_queue", x => x.id);
                });

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
                name: "IX_search_items_namespace_dialogue_id",
                table: "search_items",
                columns: new[] { "namespace", "dialogue_id" });

            migrationBuilder.CreateIndex(
                name: "IX_search_items_namespace_kind_version",
                table: "search_items",
                columns: new[] { "namespace", "kind", "version" });

            migrationBuilder.CreateIndex(
                name: "IX_search_terms_namespace_kind_item_id",
                table: "search_terms",
                columns: new[] { "namespace", "kind", "item_id" });

            foreach (var table in Tables)
            {
                migrationBuilder.Sql($"""
                    ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
                    ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
                    CREATE POLICY namespace_isolation ON {table}
                        USING (namespace = dialoguedb_request_namespace())
                        WITH CHECK (namespace = dialoguedb_request_namespace());
                    """);
            }
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "search_items");

            migrationBuilder.DropTable(
                name: "search_namespaces");

            migrationBuilder.DropTable(
                name: "search_queue");

            migrationBuilder.DropTable(
                name: "search_terms");
        }
    }
}
