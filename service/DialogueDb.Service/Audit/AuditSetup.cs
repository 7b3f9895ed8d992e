using DialogueDb.Service.Hosting;
using DialogueDb.Service.RateLimiting;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace DialogueDb.Service.Audit;

internal static class AuditSetup
{
    /// <summary>
    /// The outbox writer always; the relay where this process should run it: embedded mode (SQLite, published to the
    /// events file) or when DIALOGUEDB_RELAY_POSTGRES gives it the maintenance role's connection.
    /// </summary>
    public static IServiceCollection AddAudit(this IServiceCollection services, ServiceOptions options, bool hostRelay)
    {
        services.AddSingleton<OutboxSignal>();
        services.AddSingleton<AuditOutbox>();
        services.AddSingleton(sp => Sink(sp, options));
        if (hostRelay)
        {
            services.AddSingleton(sp => Relay(sp, options));
            services.AddSupervisedService("audit relay", sp => sp.GetRequiredService<OutboxRelay>());
        }

        return services;
    }

    public static bool RunsRelay(ServiceOptions options) => !options.UsesPostgres || !string.IsNullOrWhiteSpace(options.RelayPostgres);

    private static IEventSink Sink(IServiceProvider services, ServiceOptions options) =>
        string.IsNullOrWhiteSpace(options.Redis)
            ? new FileSink(options.EventsFilePath)
            : new RedisStreamSink(services.GetRequiredService<RedisConnection>(),
                services.GetRequiredService<RateLimitKeys>().Prefix + "events", options.EventsMaxLength);

    private static OutboxRelay Relay(IServiceProvider services, ServiceOptions options)
    {
        Func<DialogueDbContext> newContext;
        NpgsqlDataSource? leader = null;
        if (options.UsesPostgres)
        {
            var maintenance = NpgsqlDataSource.Create(options.RelayPostgres ?? options.Postgres!);
            leader = maintenance;
            var built = new DbContextOptionsBuilder<DialogueDbContext>();
            StorageSetup.Configure(built, maintenance);
            newContext = () => new DialogueDbContext(built.Options);
        }
        else
        {
            var built = new DbContextOptionsBuilder<DialogueDbContext>();
            StorageSetup.ConfigureSqlite(built, options);
            newContext = () => new DialogueDbContext(built.Options);
        }

        return new OutboxRelay(newContext, leader, services.GetRequiredService<ContentProtector>(),
            services.GetRequiredService<IEventSink>(), services.GetRequiredService<OutboxSignal>(),
            services.GetRequiredService<ILogger<OutboxRelay>>());
    }
}
