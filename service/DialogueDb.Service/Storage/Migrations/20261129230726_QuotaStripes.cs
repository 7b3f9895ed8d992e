using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace DialogueDb.Service.Storage.Migrations
{
    /// <inheritdoc />
    public partial class QuotaStripes : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "quota_stripes",
                columns: table => new
                {
                    period = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    kind = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    stripe = table.Column<int>(type: "integer", nullable: false),
                    used = table.Column<long>(type: "bigint", nullable: false),
                    allowance = table.Column<long>(type: "bigint", nullable: false),
                    cap = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_quota_stripes", x => new { x.period, x.kind, x.stripe });
                });

            // The counts so far move over, so a project keeps its usage of the month across the upgrade.
            migrationBuilder.Sql(DatabaseMigrator.MoveQuotaCountersToStripes);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "quota_stripes");
        }
    }
}
