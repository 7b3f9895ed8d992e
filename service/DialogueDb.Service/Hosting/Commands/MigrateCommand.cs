using System.CommandLine;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;

namespace DialogueDb.Service.Hosting.Commands;

/// <summary>
/// <c>dialoguedb migrate</c>. Needs only the database settings (no TLS, no project, no encryption key), except once after
/// upgrading a database that holds plaintext labels: then the key ring and the project (file or policy Secret) to encrypt
/// them.
/// </summary>
internal static class MigrateCommand
{
    public static Command Create(CliOptions shared)
    {
        var appRole = new Option<string?>("--app-role")
        {
            Description = "PostgreSQL role the API connects as; granted data access under row-level security (env DIALOGUEDB_APP_ROLE)",
        };
        var maintenanceRole = new Option<string?>("--maintenance-role")
        {
            Description = "BYPASSRLS role of the jobs that see every namespace (env DIALOGUEDB_MAINTENANCE_ROLE)",
        };
        var migrate = new Command("migrate",
            "Apply the PostgreSQL migrations as the owner role (--postgres) and grant the API and maintenance roles; " +
            "or create the embedded schema")
        {
            shared.DataDir, shared.Postgres, appRole, maintenanceRole,
        };
        migrate.SetAction((parse, ct) =>
        {
            var overrides = shared.Overrides(parse, postgres: true);
            CliOptions.Set(overrides, "APP_ROLE", parse.GetValue(appRole));
            CliOptions.Set(overrides, "MAINTENANCE_ROLE", parse.GetValue(maintenanceRole));
            return MigrateAsync(CliOptions.Bind(overrides), parse.InvocationConfiguration.Output, ct);
        });
        return migrate;
    }

    private static async Task<int> MigrateAsync(ServiceOptions options, TextWriter output, CancellationToken ct)
    {
        if (options.UsesPostgres)
        {
            await DatabaseMigrator.MigratePostgresAsync(options.Postgres!, options.AppRole, options.MaintenanceRole, ct);
            var sealedValues = await DatabaseMigrator.SealFreeTextAsync(options.Postgres!,
                () => new ContentProtector(EncryptionKeySource.Load(options), SecuritySetup.ProjectIdOf(options)), ct);
            if (sealedValues > 0)
            {
                output.WriteLine($"Encrypted {sealedValues} labels, descriptions and names stored by an older version.");
            }

            output.WriteLine("PostgreSQL migrations applied" +
                (options.AppRole is null ? "" : $"; API role '{options.AppRole}' granted") +
                (options.MaintenanceRole is null ? "" : $"; maintenance role '{options.MaintenanceRole}' granted") + ".");
            return 0;
        }

        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddStorage(options);
        using var host = builder.Build();
        await DatabaseMigrator.EnsureEmbeddedSchemaAsync(host.Services, ct);
        output.WriteLine("Embedded SQLite schema is up to date.");
        return 0;
    }
}
