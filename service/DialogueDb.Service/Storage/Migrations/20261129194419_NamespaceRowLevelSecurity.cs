using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DialogueDb.Service.Storage.Migrations
{
    /// <summary>
    /// Namespace isolation enforced by PostgreSQL: every tenant table only shows and accepts rows of the namespace the
    /// request set on its connection (<c>dialoguedb.namespace</c> = 'ns:' + namespace; see DialogueDbContext).
    /// Unset, RESET ('') or malformed settings yield NULL, which matches no row: fail closed. FORCE applies the policies
    /// to the table owner as well; only superusers and BYPASSRLS roles (the maintenance role) see every namespace.
    /// </summary>
    public partial class NamespaceRowLevelSecurity : Migration
    {
        private static readonly string[] Tables = ["dialogues", "messages", "memories"];

        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // A plain SQL expression function: the planner inlines it, so policies still use the (namespace, ...) indexes.
            migrationBuilder.Sql("""
                CREATE FUNCTION dialoguedb_request_namespace() RETURNS text
                LANGUAGE sql STABLE PARALLEL SAFE
                AS $$
                    SELECT CASE WHEN left(current_setting('dialoguedb.namespace', true), 3) = 'ns:'
                                THEN substr(current_setting('dialoguedb.namespace', true), 4) END
                $$;
                """);
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
            foreach (var table in Tables)
            {
                migrationBuilder.Sql($"""
                    DROP POLICY namespace_isolation ON {table};
                    ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY;
                    ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;
                    """);
            }

            migrationBuilder.Sql("DROP FUNCTION dialoguedb_request_namespace();");
        }
    }
}
