using System.CommandLine;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using Npgsql;

namespace DialogueDb.Service.Hosting.Commands;

/// <summary><c>dialoguedb reencrypt</c>: every stored ciphertext moved to the active data key, resumably.</summary>
internal static class ReEncryptCommand
{
    private const int DefaultBatchSize = 500;
    private const int MaxBatchSize = 10_000;

    public static Command Create(CliOptions shared)
    {
        var batchSize = new Option<int>("--batch-size")
        {
            Description = $"Rows per batch (default {DefaultBatchSize})",
            DefaultValueFactory = _ => DefaultBatchSize,
        };
        var reencrypt = new Command("reencrypt",
            "Move every stored ciphertext to the active data key, in batches; resumable, safe while the API serves")
        {
            shared.DataDir, shared.Postgres, batchSize,
        };
        reencrypt.SetAction((parse, ct) =>
            ReEncryptAsync(shared.Overrides(parse, postgres: true), parse.GetValue(batchSize), parse.InvocationConfiguration, ct));
        return reencrypt;
    }

    private static async Task<int> ReEncryptAsync(Dictionary<string, string?> overrides, int batchSize, InvocationConfiguration console,
        CancellationToken ct)
    {
        if (batchSize is < 1 or > MaxBatchSize)
        {
            console.Error.WriteLine($"--batch-size must be between 1 and {MaxBatchSize}.");
            return 2;
        }

        var options = CliOptions.Bind(overrides);
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
        var totals = await new ReEncryptor(db, protector, console.Output, TimeProvider.System).RunAsync(batchSize, ct);
        console.Output.WriteLine(
            $"Re-encryption complete: {totals.Sum(t => t.Rewritten)} rows moved to data key {protector.Ring.ActiveId}.");
        return 0;
    }
}
