using System.CommandLine;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Retention;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using DialogueDb.Service.Telemetry;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using StackExchange.Redis;

namespace DialogueDb.Service.Hosting.Commands;

/// <summary>
/// <c>dialoguedb retention</c>, which the operator's CronJob runs. Exit code 0 on success; 1 with the reason on failure
/// or when another run holds the lock.
/// </summary>
internal static class RetentionCommand
{
    private const int DefaultBatchSize = 1000;
    private const int MaxBatchSize = 100_000;

    public static Command Create(CliOptions shared)
    {
        var batchSize = new Option<int>("--batch-size")
        {
            Description = $"Rows per transaction (default {DefaultBatchSize})",
            DefaultValueFactory = _ => DefaultBatchSize,
        };
        var retention = new Command("retention",
            "Permanently delete expired dialogues (with messages, state, threads) and memories per the project policy")
        {
            shared.DataDir, shared.Postgres, batchSize,
        };
        retention.SetAction((parse, ct) =>
            RetentionAsync(shared.Overrides(parse, postgres: true), parse.GetValue(batchSize), parse.InvocationConfiguration, ct));
        return retention;
    }

    private static async Task<int> RetentionAsync(Dictionary<string, string?> overrides, int batchSize, InvocationConfiguration console,
        CancellationToken ct)
    {
        if (batchSize is < 1 or > MaxBatchSize)
        {
            console.Error.WriteLine($"--batch-size must be between 1 and {MaxBatchSize}.");
            return 2;
        }

        var options = CliOptions.Bind(overrides);
        using var host = JobHost.Build(options, hostRelay: false);
        NpgsqlDataSource? postgres = null;
        try
        {
            var contextOptions = new DbContextOptionsBuilder<DialogueDbContext>();
            if (options.UsesPostgres)
            {
                postgres = NpgsqlDataSource.Create(options.Postgres!);
                await DatabaseMigrator.EnsureSeesAllNamespacesAsync(postgres, ct);
                StorageSetup.Configure(contextOptions, postgres);
            }
            else
            {
                StorageSetup.ConfigureSqlite(contextOptions, options);
            }

            await using var runLock = await RetentionLock.TryAcquireAsync(options, postgres, ct);
            if (runLock is null)
            {
                console.Error.WriteLine(
                    "dialoguedb retention: another retention run of this project is in progress; not starting a second one.");
                return 1;
            }

            var policy = host.Services.GetRequiredService<ProjectPolicy>();
            await new RetentionSweeper(() => new DialogueDbContext(contextOptions.Options), policy.Effective, policy.Current.ProjectId,
                    host.Services.GetRequiredService<ContentProtector>(), host.Services.GetRequiredService<AuditOutbox>(),
                    TimeProvider.System, console.Output, host.Services.GetRequiredService<ServiceMetrics>())
                .RunAsync(batchSize, ct);

            // Published events age out with the data: trimmed here too, in case nothing is being published.
            var events = host.Services.GetRequiredService<IEventSink>();
            await events.TrimAsync(ct);
            console.Output.WriteLine($"Events older than the retention window trimmed from {events.Describe}.");
            return 0;
        }
        catch (Exception ex) when (ex is NpgsqlException or DbUpdateException or Microsoft.Data.Sqlite.SqliteException or IOException
            or RedisException)
        {
            console.Error.WriteLine($"dialoguedb retention failed: {ex.GetType().Name}: {ex.Message}");
            return 1;
        }
        finally
        {
            if (postgres is not null)
            {
                await postgres.DisposeAsync();
            }
        }
    }
}
