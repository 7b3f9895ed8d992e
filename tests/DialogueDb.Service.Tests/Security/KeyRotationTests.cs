using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace DialogueDb.Service.Tests.Security;

/// <summary>
/// Rotation without downtime: a new active key reaches the running service from its key file, old rows stay readable,
/// and `reencrypt` moves every row to the new key in batches, idempotently, as the maintenance role.
/// </summary>
public abstract class KeyRotation : IAsyncLifetime
{
    private readonly TestFolder _dataDir = new();
    private ServiceHost _host = null!;
    private string _key = null!;

    private protected ServiceOptions Options { get; private set; } = null!;

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected abstract Task<string?> PrepareDatabaseAsync();

    /// <summary>A context that sees every namespace, as `dialoguedb reencrypt` connects.</summary>
    private protected abstract DialogueDbContext MaintenanceContext();

    public async ValueTask InitializeAsync()
    {
        var postgres = await PrepareDatabaseAsync();
        _key = TestProject.Write(_dataDir.Path, "rotation").ReadWrite;
        Options = new ServiceOptions
        {
            DataDir = _dataDir.Path,
            Urls = "https://127.0.0.1:0",
            Postgres = postgres,
            EncryptionKeysFile = TestProject.WriteEncryptionKeys(_dataDir.Path),
        };
        _host = await ServiceHost.StartAsync(Options);
    }

    public virtual async ValueTask DisposeAsync()
    {
        try
        {
            if (_host is not null)
            {
                await _host.DisposeAsync();
            }
        }
        finally
        {
            _dataDir.Dispose();
        }

        GC.SuppressFinalize(this);
    }

    [Fact]
    public async Task Rotate_WhileServing_NewWritesUseNewKeyAndEverythingStaysReadable()
    {
        using var client = _host.CreateClient(_key);
        var before = await CreateAsync(client, "before-rotation");

        var ringPath = Options.EncryptionKeysPath;
        var rotated = EncryptionKeyRing.Parse(await File.ReadAllTextAsync(ringPath, Ct), ringPath).Rotate();
        await File.WriteAllTextAsync(ringPath, rotated.ToJson(), Ct);
        var protector = _host.Services.GetRequiredService<ContentProtector>();
        var watch = Stopwatch.StartNew();
        while (protector.Ring.ActiveId != 2 && watch.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(50, Ct);
        }

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"rotation took {watch.Elapsed.TotalMilliseconds} ms to reach the server");
        var after = await CreateAsync(client, "after-rotation");

        Assert.Equal("1", await StoredKeyIdsAsync(before));
        Assert.Equal("2", await StoredKeyIdsAsync(after));
        await AssertReadableAsync(client, before, "before-rotation");
        await AssertReadableAsync(client, after, "after-rotation");

        // Re-encrypt in small batches: everything moves to key 2, nothing changes on a second run.
        using var progress = new StringWriter();
        await using (var db = MaintenanceContext())
        {
            var totals = await new ReEncryptor(db, new ContentProtector(rotated, "rotation"), progress, TimeProvider.System)
                .RunAsync(batchSize: 2, Ct);
            Assert.True(totals.Sum(t => t.Rewritten) >= 3, progress.ToString());
        }

        Assert.Contains("messages: scanned", progress.ToString(), StringComparison.Ordinal);
        Assert.Equal("2", await StoredKeyIdsAsync(before));
        await AssertReadableAsync(client, before, "before-rotation");
        await using (var db = MaintenanceContext())
        {
            var again = await new ReEncryptor(db, new ContentProtector(rotated, "rotation"), TextWriter.Null, TimeProvider.System)
                .RunAsync(batchSize: 2, Ct);
            Assert.Equal(0, again.Sum(t => t.Rewritten));
        }
    }

    [Fact]
    public async Task ReadUnderAKeyThisReplicaLacks_Answers503WithTheEnvelope_NotA500()
    {
        using var client = _host.CreateClient(_key);
        var ringPath = Options.EncryptionKeysPath;
        var lagging = await File.ReadAllTextAsync(ringPath, Ct);
        await File.WriteAllTextAsync(ringPath, EncryptionKeyRing.Parse(lagging, ringPath).Rotate().ToJson(), Ct);
        var protector = _host.Services.GetRequiredService<ContentProtector>();
        var watch = Stopwatch.StartNew();
        while (protector.Ring.ActiveId != 2 && watch.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(50, Ct);
        }

        var written = await CreateAsync(client, "under-key-2");
        // As a replica whose Secret volume has not caught up: its ring file lacks key 2 (re-reading it does not help).
        await File.WriteAllTextAsync(ringPath, lagging, Ct);
        watch.Restart();
        while (protector.Ring.ActiveId != 1 && watch.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(50, Ct);
        }

        var (ns, id) = (written.Split('|')[0], written.Split('|')[1]);
        using var response = await client.GetAsync($"api/v1/messages?dialogueId={id}&namespace={ns}", Ct);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.Contains("SERVICE_UNAVAILABLE", body, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", body, StringComparison.Ordinal);
    }

    private static async Task<string> CreateAsync(HttpClient client, string marker)
    {
        var ns = "rot-" + Guid.NewGuid().ToString("N")[..8];
        using var response = await client.PostAsJsonAsync($"api/v1/dialogue?namespace={ns}", new
        {
            state = new { marker },
            label = marker + "-label",
            messages = new[]
            {
                new { role = "user", content = marker + "-1", name = marker + "-name" },
                new { role = "user", content = marker + "-2", name = marker + "-name" },
            },
        }, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var id = (string)JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!["id"]!;
        using var memory = await client.PostAsJsonAsync($"api/v1/memory?namespace={ns}", new
        {
            id = "m-" + id, value = marker, label = marker + "-label", description = marker + "-description",
        }, Ct);
        Assert.Equal(HttpStatusCode.OK, memory.StatusCode);
        return ns + "|" + id;
    }

    private static async Task AssertReadableAsync(HttpClient client, string handle, string marker)
    {
        var (ns, id) = (handle.Split('|')[0], handle.Split('|')[1]);
        var dialogue = JsonNode.Parse(await client.GetStringAsync($"api/v1/dialogue/{id}?namespace={ns}", Ct))!;
        Assert.Equal(marker, (string)dialogue["state"]!["marker"]!);
        Assert.Equal(marker + "-label", (string)dialogue["label"]!);
        var messages = JsonNode.Parse(await client.GetStringAsync($"api/v1/messages?dialogueId={id}&namespace={ns}", Ct))!;
        Assert.Equal([marker + "-1", marker + "-2"], messages["items"]!.AsArray().Select(m => (string)m!["content"]!));
        Assert.All(messages["items"]!.AsArray(), m => Assert.Equal(marker + "-name", (string)m!["name"]!));
        var memory = JsonNode.Parse(await client.GetStringAsync($"api/v1/memory/m-{id}?namespace={ns}", Ct))!;
        Assert.Equal(marker, (string)memory["value"]!);
        Assert.Equal(marker + "-label", (string)memory["label"]!);
        Assert.Equal(marker + "-description", (string)memory["description"]!);
    }

    /// <summary>
    /// The data key ids of the dialogue's stored ciphertexts (state and label, messages and names, memory value, label
    /// and description), distinct and sorted.
    /// </summary>
    private async Task<string> StoredKeyIdsAsync(string handle)
    {
        var (ns, id) = (handle.Split('|')[0], handle.Split('|')[1]);
        await using var db = MaintenanceContext();
        var blobs = new List<byte[]>();
        var dialogues = db.Dialogues.IgnoreQueryFilters().Where(d => d.Namespace == ns && d.Id == id);
        var messages = db.Messages.IgnoreQueryFilters().Where(m => m.Namespace == ns && m.DialogueId == id);
        var memories = db.Memories.IgnoreQueryFilters().Where(m => m.Namespace == ns);
        blobs.AddRange(await dialogues.Select(d => d.State).ToListAsync(Ct));
        blobs.AddRange((await dialogues.Select(d => d.Label).ToListAsync(Ct))!);
        blobs.AddRange(await messages.Select(m => m.Content).ToListAsync(Ct));
        blobs.AddRange((await messages.Select(m => m.Name).ToListAsync(Ct))!);
        blobs.AddRange(await memories.Select(m => m.Value).ToListAsync(Ct));
        blobs.AddRange((await memories.Select(m => m.Label).ToListAsync(Ct))!);
        blobs.AddRange((await memories.Select(m => m.Description).ToListAsync(Ct))!);
        Assert.Equal(9, blobs.Count);
        Assert.All(blobs, b => Assert.Equal(ContentProtector.FormatVersion, b[0]));
        return string.Join(",", blobs.Select(ContentProtector.KeyIdOf).Distinct().Order());
    }
}

public sealed class KeyRotationSqlite : KeyRotation
{
    protected override Task<string?> PrepareDatabaseAsync() => Task.FromResult<string?>(null);

    private protected override DialogueDbContext MaintenanceContext() => new(new DbContextOptionsBuilder<DialogueDbContext>()
        .UseSqlite($"Data Source={Options.SqlitePath}").Options);
}

public sealed class KeyRotationPostgres : KeyRotation
{
    private TestDatabase? _database;
    private NpgsqlDataSource? _maintenance;

    protected override async Task<string?> PrepareDatabaseAsync()
    {
        if (TestDatabase.UnavailableReason() is { } reason)
        {
            Assert.Skip(reason);
        }

        _database = await TestDatabase.CreateAsync();
        _maintenance = NpgsqlDataSource.Create(_database.MaintenanceConnectionString);
        return _database.AppConnectionString;
    }

    private protected override DialogueDbContext MaintenanceContext()
    {
        var options = new DbContextOptionsBuilder<DialogueDbContext>();
        StorageSetup.Configure(options, _maintenance!);
        return new DialogueDbContext(options.Options);
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (_maintenance is not null)
        {
            await _maintenance.DisposeAsync();
        }

        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }

    [Fact]
    public async Task ReEncrypt_AsTheApiRole_RefusesInsteadOfSilentlySeeingNothing()
    {
        await using var app = NpgsqlDataSource.Create(_database!.AppConnectionString);

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => DatabaseMigrator.EnsureSeesAllNamespacesAsync(app, Ct));
        Assert.Contains("maintenance role", ex.Message, StringComparison.Ordinal);
        await DatabaseMigrator.EnsureSeesAllNamespacesAsync(_maintenance!, Ct);
    }
}
