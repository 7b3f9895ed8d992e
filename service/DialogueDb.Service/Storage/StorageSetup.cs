using DialogueDb.Service.Hosting;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using Npgsql;

namespace DialogueDb.Service.Storage;

internal static class StorageSetup
{
    public static IServiceCollection AddStorage(this IServiceCollection services, ServiceOptions options)
    {
        if (options.UsesPostgres)
        {
            var dataSource = new NpgsqlDataSourceBuilder(options.Postgres).Build();
            services.AddSingleton(dataSource);
            services.AddDbContextPool<DialogueDbContext>(db => Configure(db, dataSource));
        }
        else
        {
            Directory.CreateDirectory(options.FullDataDir);
            var connection = new SqliteConnectionStringBuilder
            {
                DataSource = options.SqlitePath,
                Pooling = true,
                // Microsoft.Data.Sqlite retries a busy database until the command timeout: concurrent writers queue.
                DefaultTimeout = 30,
            }.ToString();
            services.AddDbContextPool<DialogueDbContext>(db => db.UseSqlite(connection));
        }

        return services;
    }

    public static void Configure(DbContextOptionsBuilder builder, NpgsqlDataSource dataSource) =>
        builder.UseNpgsql(dataSource, npgsql => npgsql.MigrationsHistoryTable("__ef_migrations_history"));
}

/// <summary>Applies the schema: PostgreSQL migrations (the <c>migrate</c> command), or the embedded SQLite schema.</summary>
internal static class DatabaseMigrator
{
    public static async Task MigrateAsync(IServiceProvider services, CancellationToken ct)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DialogueDbContext>();
        if (db.Database.IsNpgsql())
        {
            await db.Database.MigrateAsync(ct);
        }
        else
        {
            await db.Database.EnsureCreatedAsync(ct);
            // WAL lets readers run while one writer commits; the setting is stored in the database file.
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", ct);
        }
    }
}

/// <summary>Used by <c>dotnet ef migrations add</c>: migrations target PostgreSQL.</summary>
internal sealed class DesignTimeDbContextFactory : IDesignTimeDbContextFactory<DialogueDbContext>
{
    public DialogueDbContext CreateDbContext(string[] args)
    {
        var builder = new DbContextOptionsBuilder<DialogueDbContext>();
        StorageSetup.Configure(builder, new NpgsqlDataSourceBuilder("Host=localhost;Database=design").Build());
        return new DialogueDbContext(builder.Options);
    }
}

internal static class StorageErrors
{
    /// <summary>True when a save failed on a unique or primary key constraint (PostgreSQL 23505, SQLite constraint).</summary>
    public static bool IsUniqueViolation(DbUpdateException ex) => ex.InnerException switch
    {
        PostgresException pg => pg.SqlState == PostgresErrorCodes.UniqueViolation,
        SqliteException sqlite => sqlite.SqliteErrorCode == 19 && sqlite.SqliteExtendedErrorCode is 1555 or 2067,
        _ => false,
    };
}
