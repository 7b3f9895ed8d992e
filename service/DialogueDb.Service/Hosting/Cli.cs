using System.CommandLine;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Retention;
using Microsoft.EntityFrameworkCore;
using DialogueDb.Service.RateLimiting;
using Npgsql;
using StackExchange.Redis;

namespace DialogueDb.Service.Hosting;

/// <summary>
/// The <c>dialoguedb</c> command line. Every option can also be set by its DIALOGUEDB_* environment variable;
/// an option given on the command line wins.
/// </summary>
internal static partial class Cli
{
    public static RootCommand Build()
    {
        var dataDir = new Option<string?>("--data-dir")
        {
            Description = "Data folder: embedded database, generated TLS files, dev project (env DIALOGUEDB_DATA_DIR; default ./.dialoguedb)",
        };
        var urls = new Option<string?>("--urls")
        {
            Description = "Listen addresses separated by ';' (env DIALOGUEDB_URLS; default https://127.0.0.1:8443)",
        };
        var postgres = new Option<string?>("--postgres")
        {
            Description = "Npgsql connection string; runs on PostgreSQL instead of SQLite (env DIALOGUEDB_POSTGRES)",
        };

        var serve = new Command("serve", "Serve the DialogueDB HTTP API over HTTPS") { dataDir, urls, postgres };
        serve.SetAction((parse, ct) => ServeAsync(Overrides(parse, dataDir, urls, postgres), ct));

        var appRole = new Option<string?>("--app-role")
        {
            Description = "PostgreSQL role the API connects as; granted data access under row-level security (env DIALOGUEDB_APP_ROLE)",
        };
        var maintenanceRole = new Option<string?>("--maintenance-role")
        {
            Description = "BYPASSRLS role of the jobs that see every namespace (env DIALOGUEDB_MAINTENANCE_ROLE)",
        };
        var migrate = new Command("migrate",
            "Apply the PostgreSQL migrations as the owner role (--postgres) and grant the API and maintenance roles; or create the embedded schema")
        {
            dataDir, postgres, appRole, maintenanceRole,
        };
        migrate.SetAction((parse, ct) =>
        {
            var overrides = Overrides(parse, dataDir, null, postgres);
            if (parse.GetValue(appRole) is { } app)
            {
                overrides["APP_ROLE"] = app;
            }

            if (parse.GetValue(maintenanceRole) is { } maintenance)
            {
                overrides["MAINTENANCE_ROLE"] = maintenance;
            }

            return MigrateAsync(overrides, ct);
        });

        var keyFile = new Option<string?>("--file")
        {
            Description = "Key ring file (env DIALOGUEDB_ENCRYPTION_KEYS_FILE; default DATA_DIR/secrets/encryption-keys.json)",
        };
        var addDataKeyOnly = new Option<bool>("--add-only")
        {
            Description = "Two-phase rotation, first step: add a data key for decryption only and print its id (several replicas)",
        };
        var activateDataKey = new Option<string?>("--activate")
        {
            Description = "Two-phase rotation, second step: make this data key (added with --add-only) the active one",
        };
        var rotate = new Command("rotate", "Add a new data key and make it active (or --add-only, then --activate ID); older keys stay for decryption")
        {
            dataDir, keyFile, addDataKeyOnly, activateDataKey,
        };
        rotate.SetAction(parse =>
        {
            var overrides = Overrides(parse, dataDir, null, postgres);
            if (parse.GetValue(keyFile) is { } file)
            {
                overrides["ENCRYPTION_KEYS_FILE"] = file;
            }

            return KeyRotationCommands.RotateDataKey(BindOptions(overrides).EncryptionKeysPath,
                new RotationStep(parse.GetValue(addDataKeyOnly), parse.GetValue(activateDataKey)), Console.Out, Console.Error);
        });
        var encryption = new Command("encryption", "Manage the content encryption key ring") { rotate };

        var batchSize = new Option<int>("--batch-size") { Description = "Rows per batch (default 500)", DefaultValueFactory = _ => 500 };
        var reencrypt = new Command("reencrypt",
            "Move every stored ciphertext to the active data key, in batches; resumable, safe while the API serves")
        {
            dataDir, postgres, batchSize,
        };
        reencrypt.SetAction((parse, ct) => ReEncryptAsync(Overrides(parse, dataDir, null, postgres), parse.GetValue(batchSize), ct));

        var relay = new Command("relay",
            "Run the audit relay alone: publish the outbox to the event stream (PostgreSQL: connect as the maintenance role)")
        {
            dataDir, postgres,
        };
        relay.SetAction((parse, ct) => RelayAsync(Overrides(parse, dataDir, null, postgres), ct));

        var tail = new Command("tail",
            "Print audit events as they arrive (from the Redis stream, or the embedded events file), items opened with the event key")
        {
            dataDir,
        };
        tail.SetAction((parse, ct) => TailEventsAsync(BindOptions(Overrides(parse, dataDir, null, null)), ct));
        var eventKeyFile = new Option<string?>("--file")
        {
            Description = "Event key file (env DIALOGUEDB_EVENTS_KEY_FILE; default DATA_DIR/secrets/events-key.json)",
        };
        var addEventKeyOnly = new Option<bool>("--add-only")
        {
            Description = "Two-phase rotation, first step: add an event key consumers can open with, not yet sealing; print its id",
        };
        var activateEventKey = new Option<string?>("--activate")
        {
            Description = "Two-phase rotation, second step: seal new events with this key (added with --add-only)",
        };
        var rotateEventKey = new Command("rotate-key",
            "Add a new event key and make it active (or --add-only, then --activate ID); older keys stay so consumers can open older events")
        {
            dataDir, eventKeyFile, addEventKeyOnly, activateEventKey,
        };
        rotateEventKey.SetAction(parse =>
        {
            var overrides = Overrides(parse, dataDir, null, null);
            if (parse.GetValue(eventKeyFile) is { } file)
            {
                overrides["EVENTS_KEY_FILE"] = file;
            }

            return KeyRotationCommands.RotateEventKey(BindOptions(overrides).EventsKeyPath,
                new RotationStep(parse.GetValue(addEventKeyOnly), parse.GetValue(activateEventKey)), TimeProvider.System,
                Console.Out, Console.Error);
        });
        var events = new Command("events", "Audit events") { tail, rotateEventKey };

        var retentionBatch = new Option<int>("--batch-size") { Description = "Rows per transaction (default 1000)", DefaultValueFactory = _ => 1000 };
        var retention = new Command("retention",
            "Permanently delete expired dialogues (with messages, state, threads) and memories per the project policy")
        {
            dataDir, postgres, retentionBatch,
        };
        retention.SetAction((parse, ct) => RetentionAsync(Overrides(parse, dataDir, null, postgres), parse.GetValue(retentionBatch), ct));

        return new RootCommand("DialogueDB: the conversation and memory store for AI applications")
        {
            serve, migrate, KeysCommand(dataDir), encryption, reencrypt, relay, events, retention,
        };
    }

    private static Dictionary<string, string?> Overrides(ParseResult parse, Option<string?> dataDir, Option<string?>? urls,
        Option<string?>? postgres)
    {
        var values = new Dictionary<string, string?>();
        Add("DATA_DIR", parse.GetValue(dataDir));
        Add("URLS", urls is null ? null : parse.GetValue(urls));
        Add("POSTGRES", postgres is null ? null : parse.GetValue(postgres));
        return values;

        void Add(string key, string? value)
        {
            if (value is not null)
            {
                values[key] = value;
            }
        }
    }

    private static async Task<int> ServeAsync(Dictionary<string, string?> overrides, CancellationToken ct)
    {
        var builder = ApiHost.CreateBuilder([], commandLine: overrides);
        await using var app = ApiHost.Build(builder);
        var options = app.Services.GetRequiredService<ServiceOptions>();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("DialogueDb");

        if (options.UsesPostgres)
        {
            await DatabaseMigrator.EnsureApiRoleIsolatedAsync(app.Services.GetRequiredService<NpgsqlDataSource>(), ct);
        }
        else
        {
            // Embedded mode creates its own schema; production applies migrations only through `dialoguedb migrate`.
            await DatabaseMigrator.EnsureEmbeddedSchemaAsync(app.Services, ct);
        }

        await app.StartAsync(ct);
        var listening = string.Join(", ", app.Urls);
        LogListening(logger, listening, options.UsesPostgres ? "postgresql" : "sqlite");
        if (!options.UsesPostgres)
        {
            var caPath = Path.Combine(options.FullDataDir, "tls", "ca.crt");
            LogTrustHint(logger, caPath);
        }

        await app.WaitForShutdownAsync(ct);
        return 0;
    }

    /// <summary>
    /// Needs only the database settings (no TLS, no project, no encryption key), except once after upgrading a database
    /// that holds plaintext labels: then the key ring and the project (file or policy Secret) to encrypt them.
    /// </summary>
    private static async Task<int> MigrateAsync(Dictionary<string, string?> overrides, CancellationToken ct)
    {
        var options = BindOptions(overrides);
        if (options.UsesPostgres)
        {
            await DatabaseMigrator.MigratePostgresAsync(options.Postgres!, options.AppRole, options.MaintenanceRole, ct);
            var sealedValues = await DatabaseMigrator.SealFreeTextAsync(options.Postgres!,
                () => new ContentProtector(EncryptionKeySource.Load(options), SecuritySetup.ProjectIdOf(options)), ct);
            if (sealedValues > 0)
            {
                Console.WriteLine($"Encrypted {sealedValues} labels, descriptions and names stored by an older version.");
            }

            Console.WriteLine("PostgreSQL migrations applied" +
                (options.AppRole is null ? "" : $"; API role '{options.AppRole}' granted") +
                (options.MaintenanceRole is null ? "" : $"; maintenance role '{options.MaintenanceRole}' granted") + ".");
            return 0;
        }

        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddStorage(options);
        using var host = builder.Build();
        await DatabaseMigrator.EnsureEmbeddedSchemaAsync(host.Services, ct);
        Console.WriteLine("Embedded SQLite schema is up to date.");
        return 0;
    }

    /// <summary><c>dialoguedb keys create|list|revoke</c>: the project file's API keys (a running server follows within a second).</summary>
    private static Command KeysCommand(Option<string?> dataDir)
    {
        var name = new Option<string>("--name") { Description = "A label for the key (e.g. the application using it)", Required = true };
        var scope = new Option<string>("--scope")
        {
            Description = "read-write (default) or read-only",
            DefaultValueFactory = _ => ApiKeyRecord.ReadWrite,
        };
        scope.AcceptOnlyFromAmong(ApiKeyRecord.ReadWrite, ApiKeyRecord.ReadOnly);
        var create = new Command("create", "Create an API key; it is printed exactly once and only its hash is stored") { dataDir, name, scope };
        create.SetAction(parse =>
        {
            var options = BindOptions(Overrides(parse, dataDir, null, null));
            var (project, hasher) = OpenProject(options);
            var (keyId, key) = ApiKeyHasher.NewKey();
            var record = new ApiKeyRecord(keyId, parse.GetValue(name)!, parse.GetValue(scope)!, hasher.Hash(key));
            (project with { ApiKeys = [.. project.ApiKeys, record] }).Write(options.ProjectFilePath);
            Console.Error.WriteLine($"Created API key {keyId} ({record.Scope}) for '{record.Name}'. It is shown only now:");
            Console.WriteLine(key);
            return 0;
        });

        var list = new Command("list", "List the API keys (ids, names, scopes; never key material)") { dataDir };
        list.SetAction(parse =>
        {
            var (project, _) = OpenProject(BindOptions(Overrides(parse, dataDir, null, null)));
            Console.WriteLine($"{"ID",-14} {"SCOPE",-11} NAME");
            foreach (var key in project.ApiKeys)
            {
                Console.WriteLine($"{key.Id,-14} {key.Scope,-11} {key.Name}");
            }

            return 0;
        });

        var idOrName = new Argument<string>("key") { Description = "The key id (or its name, when unique)" };
        var revoke = new Command("revoke", "Revoke an API key; requests with it get 401 within seconds") { dataDir, idOrName };
        revoke.SetAction(parse =>
        {
            var options = BindOptions(Overrides(parse, dataDir, null, null));
            var (project, _) = OpenProject(options);
            var wanted = parse.GetValue(idOrName)!;
            var matches = project.ApiKeys.Where(k => k.Id == wanted).ToList();
            if (matches.Count == 0)
            {
                matches = [.. project.ApiKeys.Where(k => k.Name == wanted)];
            }

            if (matches.Count != 1)
            {
                Console.Error.WriteLine(matches.Count == 0 ? $"No API key '{wanted}'." : $"'{wanted}' names {matches.Count} keys; revoke by id.");
                return 1;
            }

            (project with { ApiKeys = [.. project.ApiKeys.Where(k => k.Id != matches[0].Id)] }).Write(options.ProjectFilePath);
            Console.WriteLine($"Revoked API key {matches[0].Id} ('{matches[0].Name}').");
            return 0;
        });

        return new Command("keys", "Manage the project's API keys (embedded mode: DATA_DIR/project.json)") { create, list, revoke };
    }

    private static (ProjectDocument Project, ApiKeyHasher Hasher) OpenProject(ServiceOptions options)
    {
        if (!File.Exists(options.ProjectFilePath))
        {
            throw new InvalidOperationException(
                $"No project file at {options.ProjectFilePath}: start `dialoguedb serve` once (it creates the development project) or set --data-dir.");
        }

        return (ProjectDocument.Read(options.ProjectFilePath), new ApiKeyHasher(DevProject.LoadOrCreateHashSecret(options.ApiKeyHashSecretPath)));
    }

    private static async Task<int> ReEncryptAsync(Dictionary<string, string?> overrides, int batchSize, CancellationToken ct)
    {
        if (batchSize is < 1 or > 10_000)
        {
            Console.Error.WriteLine("--batch-size must be between 1 and 10000.");
            return 2;
        }

        var options = BindOptions(overrides);
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddStorage(options);
        var project = ProjectDocument.Read(options.ProjectFilePath);
        var protector = new ContentProtector(EncryptionKeySource.Load(options), project.ProjectId);
        using var host = builder.Build();
        if (options.UsesPostgres)
        {
            await DatabaseMigrator.EnsureSeesAllNamespacesAsync(host.Services.GetRequiredService<NpgsqlDataSource>(), ct);
        }

        await using var scope = host.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DialogueDbContext>();
        var totals = await new ReEncryptor(db, protector, Console.Out, TimeProvider.System).RunAsync(batchSize, ct);
        Console.WriteLine($"Re-encryption complete: {totals.Sum(t => t.Rewritten)} rows moved to data key {protector.Ring.ActiveId}.");
        return 0;
    }

    private static async Task<int> RelayAsync(Dictionary<string, string?> overrides, CancellationToken ct)
    {
        var options = BindOptions(overrides);
        if (!options.UsesPostgres)
        {
            throw new InvalidOperationException("In embedded mode `dialoguedb serve` runs the relay itself; `relay` is for PostgreSQL.");
        }

        {
            options.RelayPostgres ??= options.Postgres!;
            await using var check = NpgsqlDataSource.Create(options.RelayPostgres);
            await DatabaseMigrator.EnsureSeesAllNamespacesAsync(check, ct);
        }

        using var host = JobHost(options, hostRelay: true);
        await host.RunAsync(ct);
        return 0;
    }

    /// <summary>
    /// The operator's CronJob runs this. Exit code 0 on success; 1 with the reason on failure or when another run holds
    /// the lock.
    /// </summary>
    private static async Task<int> RetentionAsync(Dictionary<string, string?> overrides, int batchSize, CancellationToken ct)
    {
        if (batchSize is < 1 or > 100_000)
        {
            Console.Error.WriteLine("--batch-size must be between 1 and 100000.");
            return 2;
        }

        var options = BindOptions(overrides);
        using var host = JobHost(options, hostRelay: false);
        NpgsqlDataSource? postgres = null;
        try
        {
            Func<DialogueDbContext> newContext;
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

            newContext = () => new DialogueDbContext(contextOptions.Options);
            await using var runLock = await RetentionLock.TryAcquireAsync(options, postgres, ct);
            if (runLock is null)
            {
                Console.Error.WriteLine("dialoguedb retention: another retention run of this project is in progress; not starting a second one.");
                return 1;
            }

            var policy = host.Services.GetRequiredService<ProjectPolicy>();
            await new RetentionSweeper(newContext, policy.Effective, policy.Current.ProjectId,
                    host.Services.GetRequiredService<ContentProtector>(), host.Services.GetRequiredService<AuditOutbox>(),
                    TimeProvider.System, Console.Out, host.Services.GetRequiredService<Telemetry.ServiceMetrics>())
                .RunAsync(batchSize, ct);

            // Published events age out with the data: trimmed here too, in case nothing is being published.
            await host.Services.GetRequiredService<IEventSink>().TrimAsync(ct);
            Console.WriteLine($"Events older than the retention window trimmed from {host.Services.GetRequiredService<IEventSink>().Describe}.");
            return 0;
        }
        catch (Exception ex) when (ex is NpgsqlException or DbUpdateException or Microsoft.Data.Sqlite.SqliteException or IOException or RedisException)
        {
            Console.Error.WriteLine($"dialoguedb retention failed: {ex.GetType().Name}: {ex.Message}");
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

    private static readonly System.Text.Json.JsonSerializerOptions TailJson = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private static async Task<int> TailEventsAsync(ServiceOptions options, CancellationToken ct)
    {
        var reader = SealedEventReader.Open(options.EventsKeyPath, Console.Error);
        if (!string.IsNullOrWhiteSpace(options.Redis))
        {
            await using var redis = new RedisConnection(options.Redis);
            var prefix = options.RedisKeyPrefix ?? RateLimitKeys.DefaultPrefix(ProjectDocument.Read(options.ProjectFilePath).ProjectId);
            var stream = prefix + "events";
            var db = await redis.DatabaseAsync();
            // From now on: start after the newest entry (or the beginning of an empty stream).
            var last = await db.StreamRangeAsync(stream, "-", "+", count: 1, messageOrder: Order.Descending);
            var position = last.Length > 0 ? last[0].Id : (RedisValue)"0-0";
            Console.Error.WriteLine($"Following {stream} (Ctrl+C to stop).");
            while (!ct.IsCancellationRequested)
            {
                var entries = await db.StreamReadAsync(stream, position, count: 100);
                foreach (var entry in entries)
                {
                    Console.WriteLine(reader.Format(System.Text.Json.JsonSerializer.Serialize(
                        entry.Values.ToDictionary(v => (string)v.Name!, v => (string?)v.Value), TailJson)));
                    position = entry.Id;
                }

                if (entries.Length == 0)
                {
                    await Task.Delay(250, ct);
                }
            }

            return 0;
        }

        var path = options.EventsFilePath;
        Console.Error.WriteLine($"Following {path} (Ctrl+C to stop).");
        while (!File.Exists(path))
        {
            await Task.Delay(250, ct);
        }

        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var lines = new StreamReader(file);
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var line = await lines.ReadLineAsync(ct);
                if (line is null)
                {
                    await Task.Delay(250, ct);
                    if (File.Exists(path) && new FileInfo(path).Length < file.Position)
                    {
                        // Rotated (or trimmed): follow the new file from its start.
                        lines.Dispose();
                        file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                        lines = new StreamReader(file);
                    }
                }
                else if (line.Length > 0)
                {
                    Console.WriteLine(reader.Format(line));
                }
            }
        }
        finally
        {
            lines.Dispose();
        }

        return 0;
    }

    /// <summary>
    /// The services the jobs share with `serve` (policy, keys, encryption, Redis, audit outbox), without the web host:
    /// `relay` runs the relay in it, `retention` writes its events through it.
    /// </summary>
    private static IHost JobHost(ServiceOptions options, bool hostRelay)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(options);
        builder.Services.AddDialogueSecurity(options);
        builder.Services.AddRateLimits(options);
        builder.Services.AddAudit(options, hostRelay);
        // Jobs end before any scrape: their metrics go out over OTLP when it is configured (flushed when the host is disposed).
        Telemetry.TelemetrySetup.AddJobTelemetry(builder);
        return builder.Build();
    }

    /// <summary>Settings for the jobs that run without the web host: command line over DIALOGUEDB_* environment.</summary>
    private static ServiceOptions BindOptions(Dictionary<string, string?> overrides)
    {
        var configuration = new ConfigurationBuilder()
            .AddEnvironmentVariables(ServiceOptions.EnvironmentPrefix)
            .AddInMemoryCollection(overrides)
            .Build();
        var options = ServiceOptions.From(configuration);
        options.Validate();
        return options;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "DialogueDB serving on {Urls} (storage: {Engine})")]
    private static partial void LogListening(ILogger logger, string urls, string engine);

    [LoggerMessage(Level = LogLevel.Information, Message = "Trust the local CA with: curl --cacert {CaPath} / NODE_EXTRA_CA_CERTS={CaPath}")]
    private static partial void LogTrustHint(ILogger logger, string caPath);
}
