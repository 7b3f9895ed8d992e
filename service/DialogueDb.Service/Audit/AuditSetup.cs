using DialogueDb.Service.Hosting;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Redis;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;

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
        services.AddSingleton<IEventSink>(sp => Sink(sp, options, loadKeyNow: hostRelay));
        if (hostRelay)
        {
            services.AddSingleton(sp => Relay(sp, options));
            services.AddSupervisedService("audit relay", sp => sp.GetRequiredService<OutboxRelay>());
        }

        return services;
    }

    public static bool RunsRelay(ServiceOptions options) => !options.UsesPostgres || !string.IsNullOrWhiteSpace(options.RelayPostgres);

    /// <summary>
    /// The stream (or embedded file) the relay publishes to, sealing every event under the event key (followed live, so
    /// a rotated key takes effect without a restart) and trimming by the project's retention periods. A process that
    /// relays reads the key at start (a missing key on a server is logged, and events wait in the outbox until it
    /// appears); one that only trims (the retention job) never needs it.
    /// </summary>
    private static SealingSink Sink(IServiceProvider services, ServiceOptions options, bool loadKeyNow)
    {
        var time = services.GetRequiredService<TimeProvider>();
        var policy = services.GetRequiredService<ProjectPolicy>();
        Func<TimeSpan?> retention = () => EventRetention.Window(policy.Effective);
        IEventSink inner = string.IsNullOrWhiteSpace(options.Redis)
            ? new FileSink(options.EventsFilePath, options.EventsFileMaxBytes, TimeSpan.FromHours(options.EventsFileMaxAgeHours), retention, time)
            : new RedisStreamSink(services.GetRequiredService<RedisConnection>(),
                services.GetRequiredService<RedisKeys>().Events, options.EventsMaxLength, retention, time);
        var keys = new EventKeySource(options, time, services.GetRequiredService<ILoggerFactory>().CreateLogger("DialogueDb.Audit"),
            services.GetService<Telemetry.ServiceMetrics>());
        if (loadKeyNow)
        {
            keys.LoadIfPresent();
        }

        return new SealingSink(inner, keys);
    }

    private static OutboxRelay Relay(IServiceProvider services, ServiceOptions options)
    {
        var database = MaintenanceDatabase.Open(options);
        return new OutboxRelay(database.NewContext, database.DataSource, services.GetRequiredService<ContentProtector>(),
            services.GetRequiredService<IEventSink>(), services.GetRequiredService<OutboxSignal>(),
            services.GetRequiredService<TimeProvider>(), services.GetRequiredService<ILogger<OutboxRelay>>(),
            services.GetService<Telemetry.ServiceMetrics>());
    }
}
