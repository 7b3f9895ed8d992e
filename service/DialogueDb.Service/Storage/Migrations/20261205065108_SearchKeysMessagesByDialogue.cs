using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DialogueDb.Service.Storage.Migrations
{
    /// <summary>
    /// Message ids are the client's and unique only within their dialogue, but the index keyed a message by its id within
    /// the namespace: of two dialogues' messages of one id only one was searchable, and deleting or changing one took the
    /// other's entry with it. The dialogue joins the keys of <c>search_items</c> and <c>search_vector_queue</c> (empty
    /// for a memory, so the column is no longer nullable); the primary key, dialogue before id, also finds a deleted
    /// dialogue's messages, so the separate (namespace, dialogue) index goes. Message postings and vectors are now
    /// encrypted under the dialogue too (analysis format 4): the indexer empties each message index built before and
    /// rebuilds it from the stored messages; memory indexes are re-indexed over themselves and stay searchable.
    /// Down asks for every index to be rebuilt (the older key cannot read the newer rows) and keeps one row per older key.
    /// </summary>
    public partial class SearchKeysMessagesByDialogue : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // The owner runs migrations and is subject to the forced row-level security, which would hide every row:
            // within this transaction (which then holds the tables' exclusive locks) it looks past the policy.
            migrationBuilder.Sql("""
                ALTER TABLE search_items NO FORCE ROW LEVEL SECURITY;
                ALTER TABLE search_vector_queue NO FORCE ROW LEVEL SECURITY;
                UPDATE search_items SET dialogue_id = '' WHERE dialogue_id IS NULL;
                UPDATE search_vector_queue SET dialogue_id = '' WHERE dialogue_id IS NULL;
                ALTER TABLE search_items FORCE ROW LEVEL SECURITY;
                ALTER TABLE search_vector_queue FORCE ROW LEVEL SECURITY;
                """);

            migrationBuilder.DropIndex(
                name: "IX_search_vector_queue_namespace_kind_item_id",
                table: "search_vector_queue");

            migrationBuilder.DropPrimaryKey(
                name: "PK_search_items",
                table: "search_items");

            migrationBuilder.DropIndex(
                name: "IX_search_items_namespace_dialogue_id",
                table: "search_items");

            migrationBuilder.AlterColumn<string>(
                name: "dialogue_id",
                table: "search_vector_queue",
                type: "character varying(128)",
                maxLength: 128,
                nullable: false,
                defaultValue: "",
                collation: "C",
                oldClrType: typeof(string),
                oldType: "character varying(128)",
                oldMaxLength: 128,
                oldNullable: true,
                oldCollation: "C");

            migrationBuilder.AlterColumn<string>(
                name: "dialogue_id",
                table: "search_items",
                type: "character varying(128)",
                maxLength: 128,
                nullable: false,
                defaultValue: "",
                collation: "C",
                oldClrType: typeof(string),
                oldType: "character varying(128)",
                oldMaxLength: 128,
                oldNullable: true,
                oldCollation: "C");

            migrationBuilder.AddPrimaryKey(
                name: "PK_search_items",
                table: "search_items",
                columns: new[] { "namespace", "kind", "dialogue_id", "item_id" });

            migrationBuilder.CreateIndex(
                name: "IX_search_vector_queue_namespace_kind_dialogue_id_item_id",
                table: "search_vector_queue",
                columns: new[] { "namespace", "kind", "dialogue_id", "item_id" },
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                ALTER TABLE search_items NO FORCE ROW LEVEL SECURITY;
                ALTER TABLE search_vector_queue NO FORCE ROW LEVEL SECURITY;
                ALTER TABLE search_namespaces NO FORCE ROW LEVEL SECURITY;
                DELETE FROM search_items a USING search_items b
                WHERE a.namespace = b.namespace AND a.kind = b.kind AND a.item_id = b.item_id AND a.dialogue_id > b.dialogue_id;
                DELETE FROM search_vector_queue a USING search_vector_queue b
                WHERE a.namespace = b.namespace AND a.kind = b.kind AND a.item_id = b.item_id AND a.dialogue_id > b.dialogue_id;
                UPDATE search_namespaces SET model = NULL;
                ALTER TABLE search_items FORCE ROW LEVEL SECURITY;
                ALTER TABLE search_vector_queue FORCE ROW LEVEL SECURITY;
                ALTER TABLE search_namespaces FORCE ROW LEVEL SECURITY;
                """);

            migrationBuilder.DropIndex(
                name: "IX_search_vector_queue_namespace_kind_dialogue_id_item_id",
                table: "search_vector_queue");

            migrationBuilder.DropPrimaryKey(
                name: "PK_search_items",
                table: "search_items");

            migrationBuilder.AlterColumn<string>(
                name: "dialogue_id",
                table: "search_vector_queue",
                type: "character varying(128)",
                maxLength: 128,
                nullable: true,
                collation: "C",
                oldClrType: typeof(string),
                oldType: "character varying(128)",
                oldMaxLength: 128,
                oldCollation: "C");

            migrationBuilder.AlterColumn<string>(
                name: "dialogue_id",
                table: "search_items",
                type: "character varying(128)",
                maxLength: 128,
                nullable: true,
                collation: "C",
                oldClrType: typeof(string),
                oldType: "character varying(128)",
                oldMaxLength: 128,
                oldCollation: "C");

            migrationBuilder.AddPrimaryKey(
                name: "PK_search_items",
                table: "search_items",
                columns: new[] { "namespace", "kind", "item_id" });

            migrationBuilder.CreateIndex(
                name: "IX_search_vector_queue_namespace_kind_item_id",
                table: "search_vector_queue",
                columns: new[] { "namespace", "kind", "item_id" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_search_items_namespace_dialogue_id",
                table: "search_items",
                columns: new[] { "namespace", "dialogue_id" });
        }
    }
}
