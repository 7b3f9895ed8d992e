using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace DialogueDb.Service.Storage.Migrations
{
    /// <summary>
    /// Summaries (issue 16): the summaries themselves (content encrypted like messages) and their durable jobs, which the
    /// API writes in the request's transaction and workers claim with FOR UPDATE SKIP LOCKED. Both tables are under the
    /// same namespace row-level security as the data tables; the worker runs as the maintenance role (BYPASSRLS).
    /// </summary>
    public partial class Summaries : Migration
    {
        private static readonly string[] Tables = ["summaries", "summary_jobs"];

        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "summaries",
                columns: table => new
                {
                    @namespace = table.Column<string>(name: "namespace", type: "character varying(128)", maxLength: 128, nullable: false, collation: "C"),
                    id = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false, collation: "C"),
                    dialogue_id = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false, collation: "C"),
                    status = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    provider = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    model = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: true),
                    template = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    from_seq = table.Column<long>(type: "bigint", nullable: false),
                    to_seq = table.Column<long>(type: "bigint", nullable: false),
                    content = table.Column<byte[]>(type: "bytea", nullable: true),
                    content_token_count = table.Column<int>(type: "integer", nullable: true),
                    from_created = table.Column<long>(type: "bigint", nullable: true),
                    to_created = table.Column<long>(type: "bigint", nullable: true),
                    message_count = table.Column<int>(type: "integer", nullable: true),
                    summarized_count = table.Column<int>(type: "integer", nullable: true),
                    skipped_count = table.Column<int>(type: "integer", nullable: true),
                    error_code = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: true),
                    error_message = table.Column<string>(type: "character varying(1024)", maxLength: 1024, nullable: true),
                    created = table.Column<long>(type: "bigint", nullable: false),
                    modified = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_summaries", x => new { x.@namespace, x.id });
                });

            migrationBuilder.CreateTable(
                name: "summary_jobs",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    @namespace = table.Column<string>(name: "namespace", type: "character varying(128)", maxLength: 128, nullable: false, collation: "C"),
                    summary_id = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false, collation: "C"),
                    dialogue_id = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false, collation: "C"),
                    attempts = table.Column<int>(type: "integer", nullable: false),
                    not_before = table.Column<long>(type: "bigint", nullable: false),
                    lease_until = table.Column<long>(type: "bigint", nullable: true),
                    claimed_by = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: true),
                    enqueued = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_summary_jobs", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_summaries_namespace_dialogue_id_created_id",
                table: "summaries",
                columns: new[] { "namespace", "dialogue_id", "created", "id" });

            migrationBuilder.CreateIndex(
                name: "IX_summary_jobs_namespace_dialogue_id",
                table: "summary_jobs",
                columns: new[] { "namespace", "dialogue_id" });

            migrationBuilder.CreateIndex(
                name: "IX_summary_jobs_namespace_summary_id",
                table: "summary_jobs",
                columns: new[] { "namespace", "summary_id" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_summary_jobs_not_before",
                table: "summary_jobs",
                column: "not_before");

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
                name: "summaries");

            migrationBuilder.DropTable(
                name: "summary_jobs");
        }
    }
}
