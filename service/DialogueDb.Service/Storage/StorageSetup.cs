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
            services.AddSingleton(_ => NamespaceBatches.Create(options.Postgres!, options.PostgresMultiplexedReads));
            AddContext(services, db => Configure(db, dataSource));
        }
        else
        {
            Directory.CreateDirectory(options.FullDataDir);
            AddContext(services, db => ConfigureSqlite(db, options));
        }

        services.AddSingleton(sp => new TransactionReplay(sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<TransactionReplay>>(), sp.GetService<Telemetry.ServiceMetrics>()));
        services.AddHostedService(sp => new StorageStartupCheck(options, sp));
        return services;
    }

    /// <summary>
    /// One context per request, built from options made once: AddDbContext would run the provider's configuration (and
    /// EF Core's options comparison) again for every request, about 5% of the service's CPU on the append path. Not
    /// pooled: each request's context starts with no namespace bound (see DialogueDbContext).
    /// </summary>
    private static void AddContext(IServiceCollection services, Action<DbContextOptionsBuilder> configure)
    {
        services.AddSingleton(sp =>
        {
            var builder = new DbContextOptionsBuilder<DialogueDbContext>().UseLoggerFactory(sp.GetRequiredService<ILoggerFactory>());
            configure(builder);
            return builder.Options;
        });
        services.AddSingleton<DbContextOptions>(sp => sp.GetRequiredService<DbContextOptions<DialogueDbContext>>());
        services.AddScoped<DialogueDbContext>();
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
