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
public abstract class KeyRotation(TestStore store) : HostsOnTestStore(store)
{
    /// <summary>A host on a project of its own with the key ring in its data folder, and a read-write key.</summary>
    private async Task<(ServiceHost Host, string Key, ServiceOptions Options)> StartAsync()
    {
        var dataDir = NewFolder().Path;
        var key = TestProject.Write(dataDir, "rotation").ReadWrite;
        var options = new ServiceOptions
        {
            DataDir = dataDir,
            Urls = "https://127.0.0.1:0",
            Postgres = Postgres,
            EncryptionKeysFile = TestProject.WriteEncryptionKeys(dataDir),
        };
        return (await StartHostAsync(options), key, options);
    }

    [Fact]
    public async Task Rotate_WhileServing_NewWritesUseNewKeyAndEverythingStaysReadable()
    {
        var (host, key, options) = await StartAsync();
        using var client = host.CreateClient(key);
        var before = await CreateAsync(client, "before-rotation");

        var ringPath = options.EncryptionKeysPath;
        var rotated = EncryptionKeyRing.Parse(await File.ReadAllTextAsync(ringPath, Ct), ringPath).Rotate();
        await File.WriteAllTextAsync(ringPath, rotated.ToJson(), Ct);
        var protector = host.Services.GetRequiredService<ContentProtector>();
        var watch = Stopwatch.StartNew();
        while (protector.Ring.ActiveId != 2 && watch.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(50, Ct);
        }

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"rotation took {watch.Elapsed.TotalMilliseconds} ms to reach the server");
        var after = await CreateAsync(client, "after-rotation");

        Assert.Equal("1", await StoredKeyIdsAsync(options, before));
        Assert.Equal("2", await StoredKeyIdsAsync(options, after));
        await AssertReadableAsync(client, before, "before-rotation");
        await AssertReadableAsync(client, after, "after-rotation");

        // Re-encrypt in small batches: everything moves to key 2, nothing changes on a second run.
        using var progress = new StringWriter();
        await using (var db = MaintenanceContext(options))
        {
            var totals = await new ReEncryptor(db, new ContentProtector(rotated, "rotation"), progress, TimeProvider.System)
                .RunAsync(batchSize: 2, Ct);
            Assert.True(totals.Sum(t => t.Rewritten) >= 3, progress.ToString());
        }

        Assert.Contains("messages: scanned", progress.ToString(), StringComparison.Ordinal);
        Assert.Equal("2", await StoredKeyIdsAsync(options, before));
        await AssertReadableAsync(client, before, "before-rotation");
        await using (var db = MaintenanceContext(options))
        {
            var again = await new ReEncryptor(db, new ContentProtector(rotated, "rotation"), TextWriter.Null, TimeProvider.System)
                .RunAsync(batchSize: 2, Ct);
            Assert.Equal(0, again.Sum(t => t.Rewritten));
        }
    }

    [Fact]
    public async Task ReadUnderAKeyThisReplicaLacks_Answers503WithTheEnvelope_NotA500()
    {
        var (host, key, options) = await StartAsync();
        using var client = host.CreateClient(key);
        var ringPath = options.EncryptionKeysPath;
        var lagging = await File.ReadAllTextAsync(ringPath, Ct);
        await File.WriteAllTextAsync(ringPath, EncryptionKeyRing.Parse(lagging, ringPath).Rotate().ToJson(), Ct);
        var protector = host.Services.GetRequiredService<ContentProtector>();
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
    private async Task<string> StoredKeyIdsAsync(ServiceOptions options, string handle)
    {
        var (ns, id) = (handle.Split('|')[0], handle.Split('|')[1]);
        await using var db = MaintenanceContext(options);
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

public sealed class KeyRotationSqlite() : KeyRotation(TestStore.Sqlite);

public sealed class KeyRotationPostgres() : KeyRotation(TestStore.Postgres)
{
    [Fact]
    public async Task ReEncrypt_AsTheApiRole_RefusesInsteadOfSilentlySeeingNothing()
    {
        await using var app = NpgsqlDataSource.Create(Postgres!);

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => DatabaseMigrator.EnsureSeesAllNamespacesAsync(app, Ct));
        Assert.Contains("maintenance role", ex.Message, StringComparison.Ordinal);
        await DatabaseMigrator.EnsureSeesAllNamespacesAsync(Maintenance!, Ct);
    }
}
