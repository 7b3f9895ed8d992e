using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DialogueDb.Service.Storage.Migrations
{
    /// <summary>
    /// Issue 12: an appended message no longer writes a <c>search_queue</c> row in its own transaction (a second row, index
    /// entry and identity value per append, inside the dialogue's lock). Each message row records the transaction that
    /// wrote it, as outbox rows do, and the indexer follows new messages in transaction order past
    /// <c>search_message_cursor</c> (see <c>SearchMessageFollower</c>): every message of a transaction below the cursor is
    /// indexed. Messages stored before this migration keep a NULL <c>xid</c> (adding the column rewrites nothing): their
    /// index work was queued when they were written. The cursor starts below every transaction still running, so a
    /// writer that was waiting for this migration's lock is followed too (its rows may also be queued by an older
    /// version: indexing twice is harmless). Not part of the EF model: the database fills the column in, and only the
    /// indexer's own queries read it. PostgreSQL only (the embedded database queues every change).
    /// </summary>
    [DbContext(typeof(DialogueDbContext))]
    [Migration("20261205043000_SearchFollowsMessages")]
    public partial class SearchFollowsMessages : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                ALTER TABLE messages ADD COLUMN xid xid8;
                ALTER TABLE messages ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
                CREATE INDEX "IX_messages_xid" ON messages (xid) WHERE xid IS NOT NULL;
                CREATE TABLE search_message_cursor (
                    single boolean PRIMARY KEY DEFAULT true CHECK (single),
                    next_xid xid8 NOT NULL);
                INSERT INTO search_message_cursor (next_xid) VALUES (pg_snapshot_xmin(pg_current_snapshot()));
                ANALYZE search_message_cursor;
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                DROP TABLE search_message_cursor;
                DROP INDEX "IX_messages_xid";
                ALTER TABLE messages DROP COLUMN xid;
                """);
        }
    }
}
