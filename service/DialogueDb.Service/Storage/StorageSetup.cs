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
            services.AddSingleton(_ => NamespaceBatches.Create(options.Postgres!));
            // Not pooled: each request's context starts with no namespace bound (see DialogueDbContext).
            services.AddDbContext<DialogueDbContext>(db => Configure(db, dataSource));
        }
        else
        {
            Directory.CreateDirectory(options.FullDataDir);
            services.AddDbContext<DialogueDbContext>(db => ConfigureSqlite(db, options));
        }

        return services;
    }

    public static void ConfigureSqlite(DbContextOptionsBuilder builder, ServiceOptions options) =>
        builder.UseSqlite(new SqliteConnectionStringBuilder
        {
            DataSource = options.SqlitePath,
            Pooling = true,
            // Microsoft.Data.Sqlite retries a busy database until the command timeout: concurrent writers queue.
            DefaultTimeout = 30,
        }.ToString());

    public static void Configure(DbContextOptionsBuilder builder, NpgsqlDataSource dataSource) =>
        builder.UseNpgsql(dataSource, npgsql => npgsql.MigrationsHistoryTable("__ef_migrations_history"));
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
