using DialogueDb.Service.Storage;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace DialogueDb.Service.Tests.Storage;

public sealed class MigrationTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Migrations_OnEmptyPostgresDatabase_ApplyAndLeaveNothingPending()
    {
        SkipUnlessPostgres();
        await using var database = await TestDatabase.CreateAsync(migrate: false);
        await using var dataSource = NpgsqlDataSource.Create(database.OwnerConnectionString);
        var options = new DbContextOptionsBuilder<DialogueDbContext>();
        StorageSetup.Configure(options, dataSource);
        await using var db = new DialogueDbContext(options.Options);

        Assert.NotEmpty(db.Database.GetMigrations());
        await DatabaseMigrator.MigratePostgresAsync(database.OwnerConnectionString, database.AppRole, database.MaintenanceRole, Ct);

        Assert.Empty(await db.Database.GetPendingMigrationsAsync(Ct));
        Assert.False(db.Database.HasPendingModelChanges(), "the model has changes no migration captures: run make migration NAME=...");
        var tables = await db.Database.SqlQueryRaw<string>(
            "SELECT table_name AS \"Value\" FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1").ToListAsync(Ct);
        Assert.Contains("dialogues", tables);
        Assert.Contains("messages", tables);
        Assert.Contains("memories", tables);
    }

    [Fact]
    public async Task Migrations_AppliedTwice_SecondRunIsANoOp()
    {
        SkipUnlessPostgres();
        await using var database = await TestDatabase.CreateAsync();
        await using var dataSource = NpgsqlDataSource.Create(database.OwnerConnectionString);
        var options = new DbContextOptionsBuilder<DialogueDbContext>();
        StorageSetup.Configure(options, dataSource);
        await using var db = new DialogueDbContext(options.Options);

        var applied = (await db.Database.GetAppliedMigrationsAsync(Ct)).ToList();
        await DatabaseMigrator.MigratePostgresAsync(database.OwnerConnectionString, database.AppRole, database.MaintenanceRole, Ct);

        Assert.Equal(applied, await db.Database.GetAppliedMigrationsAsync(Ct));
    }

    private static void SkipUnlessPostgres()
    {
        if (TestDatabase.UnavailableReason() is { } reason)
        {
            Assert.Skip(reason);
        }
    }
}
