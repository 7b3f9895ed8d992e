using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DialogueDb.Service.Storage.Migrations
{
    /// <summary>
    /// Each outbox row records the id of the transaction that wrote it. The relay publishes only rows of transactions
    /// older than every transaction still running (<c>pg_snapshot_xmin</c>), in transaction order: no row can later
    /// appear before one already published, and writers need no lock to keep the order (which would serialize commits).
    /// Not part of the EF model: the database fills it in, and only the relay's own query reads it.
    /// </summary>
    public partial class OutboxTransactionOrder : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                ALTER TABLE outbox ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
                CREATE INDEX "IX_outbox_xid_id" ON outbox (xid, id);
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                DROP INDEX "IX_outbox_xid_id";
                ALTER TABLE outbox DROP COLUMN xid;
                """);
        }
    }
}
