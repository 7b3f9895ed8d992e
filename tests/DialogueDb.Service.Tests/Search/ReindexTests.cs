using DialogueDb.Service.Hosting;
using DialogueDb.Service.Search;
using DialogueDb.Service.Storage;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static DialogueDb.Service.Tests.Search.SearchTestClient;

namespace DialogueDb.Service.Tests.Search;

/// <summary>
/// <c>dialoguedb reindex</c> builds the index from the stored, encrypted data (here: written while search was off),
/// for every namespace or one; running it again is harmless. And an index built by another embedder is never searched
/// with this one's query vectors: the indexer rebuilds it.
/// </summary>
public sealed class ReindexTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Sqlite_Reindex_IndexesDataWrittenWhileSearchWasOff()
    {
        using var dataDir = new TestFolder();
        var key = TestProject.Write(dataDir.Path, "search-reindex").ReadWrite;
        var options = new ServiceOptions { DataDir = dataDir.Path, Urls = "https://127.0.0.1:0" };
        await AssertReindexAsync(options, key, ["--data-dir", dataDir.Path]);
    }

    [Fact]
    public async Task Postgres_Reindex_IndexesDataWrittenWhileSearchWasOff()
    {
        if (TestDatabase.UnavailableReason() is { } reason)
        {
            Assert.Skip(reason);
        }

        await using var database = await TestDatabase.CreateAsync();
        using var dataDir = new TestFolder();
        var key = TestProject.Write(dataDir.Path, "search-reindex-pg").ReadWrite;
        var options = database.ServiceOptions(dataDir.Path);
        await AssertReindexAsync(options, key, ["--data-dir", dataDir.Path, "--postgres", database.MaintenanceConnectionString]);
    }

    [Fact]
    public async Task Sqlite_EmbedderChanged_IndexRebuiltNeverMixed()
    {
        await using var embeddings = await LoopbackEmbeddingsServer.StartAsync(32);
        using var dataDir = new TestFolder();
        var key = TestProject.Write(dataDir.Path, "search-embedder-change").ReadWrite;
        var endpoint = new ServiceOptions
        {
            DataDir = dataDir.Path, Urls = "https://127.0.0.1:0",
            EmbeddingsUrl = embeddings.BaseUrl.AbsoluteUri, EmbeddingsModel = "loopback-bag-of-words", EmbeddingsDimensions = 32,
        };
        string memory;
        await using (var host = await ServiceHost.StartAsync(endpoint))
        {
            using var client = host.CreateClient(key);
            memory = await CreateMemoryAsync(client, "n1", "The spare key is under the blue flower pot", Ct);
            await WaitFoundAsync(client, "n1", "memory", "blue flower pot", "semantic", [memory], Ct);
            Assert.StartsWith($"endpoint:loopback-bag-of-words@{EndpointEmbedder.Fingerprint(embeddings.BaseUrl)}/32/k",
                (await StatesAsync(host)).Single(s => s.Kind == "memory").Model, StringComparison.Ordinal);
            Assert.Contains(embeddings.Requests, r => r.Inputs.Any(i => i.Contains("blue flower pot", StringComparison.Ordinal)));
        }

        // The same data with the in-process model: its 384-dimension queries never meet the stored 32-dimension vectors;
        // the indexer empties the namespace's index, queues its items again and indexes them with the new model.
        await using (var host = await ServiceHost.StartAsync(new ServiceOptions { DataDir = dataDir.Path, Urls = "https://127.0.0.1:0" }))
        {
            using var client = host.CreateClient(key);
            await WaitFoundAsync(client, "n1", "memory", "where is the spare key", "semantic", [memory], Ct);
            var state = (await StatesAsync(host)).Single(s => s.Kind == "memory");
            Assert.StartsWith("all-MiniLM-L6-v2/384/k", state.Model, StringComparison.Ordinal);
            Assert.Equal(KeywordAnalyzer.Format, state.Format);
            Assert.Null(state.RebuildCursor);
            Assert.Equal(1, state.Items);
        }
    }

    [Fact]
    public async Task Sqlite_EmbeddingsEndpointMoved_IndexRebuiltWithTheNewEndpoint()
    {
        await using var first = await LoopbackEmbeddingsServer.StartAsync(32);
        await using var second = await LoopbackEmbeddingsServer.StartAsync(32);
        using var dataDir = new TestFolder();
        var key = TestProject.Write(dataDir.Path, "search-endpoint-moved").ReadWrite;
        ServiceOptions Using(LoopbackEmbeddingsServer server) => new()
        {
            DataDir = dataDir.Path, Urls = "https://127.0.0.1:0",
            EmbeddingsUrl = server.BaseUrl.AbsoluteUri, EmbeddingsModel = "loopback-bag-of-words", EmbeddingsDimensions = 32,
        };
        string memory;
        await using (var host = await ServiceHost.StartAsync(Using(first)))
        {
            using var client = host.CreateClient(key);
            memory = await CreateMemoryAsync(client, "n1", "The spare key is under the blue flower pot", Ct);
            await WaitFoundAsync(client, "n1", "memory", "blue flower pot", "semantic", [memory], Ct);
        }

        // Same model name and length at another URL: possibly another model, so the index is rebuilt, never mixed.
        await using (var host = await ServiceHost.StartAsync(Using(second)))
        {
            using var client = host.CreateClient(key);
            await WaitFoundAsync(client, "n1", "memory", "blue flower pot", "semantic", [memory], Ct);
            var state = (await StatesAsync(host)).Single(s => s.Kind == "memory");
            Assert.StartsWith($"endpoint:loopback-bag-of-words@{EndpointEmbedder.Fingerprint(second.BaseUrl)}/32/k", state.Model,
                StringComparison.Ordinal);
            Assert.NotEqual(EndpointEmbedder.Fingerprint(first.BaseUrl), EndpointEmbedder.Fingerprint(second.BaseUrl));
            Assert.Contains(second.Requests, r => r.Inputs.Any(i => i.Contains("blue flower pot", StringComparison.Ordinal)));
            Assert.Equal(1, state.Items);
        }
    }

    [Fact]
    public async Task Sqlite_OlderKeywordAnalysis_ReindexedOverTheIndexWhichStaysSearchable()
    {
        using var dataDir = new TestFolder();
        var key = TestProject.Write(dataDir.Path, "search-format-upgrade").ReadWrite;
        await using var host = await ServiceHost.StartAsync(new ServiceOptions { DataDir = dataDir.Path, Urls = "https://127.0.0.1:0" });
        using var client = host.CreateClient(key);
        var memory = await CreateMemoryAsync(client, "n1", "Invoice ＩＮＶ－４４０２ is overdue", Ct);
        await WaitFoundAsync(client, "n1", "memory", "INV-4402", "keyword", [memory], Ct);
        await WaitFoundAsync(client, "n1", "memory", "overdue invoice", "semantic", [memory], Ct);

        // As an index of the first analysis (before NFKC) under an unrecorded token key looks after the upgrade.
        await using (var scope = host.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<DialogueDbContext>();
            await db.SearchNamespaces.IgnoreQueryFilters().ExecuteUpdateAsync(u => u
                .SetProperty(n => n.Model, SearchSchemaUpgrade.LegacyIdentity)
                .SetProperty(n => n.Format, SearchSchemaUpgrade.LegacyFormat), Ct);
        }

        var deadline = DateTime.UtcNow + Deadline;
        while (true)
        {
            // The vectors are the same model's: every search meanwhile still finds the item.
            Assert.Equal([memory], await SearchAsync(client, "n1", "memory", "overdue invoice", "semantic", Ct));
            var state = (await StatesAsync(host)).Single(s => s.Kind == "memory");
            if (state.Format == KeywordAnalyzer.Format && state.RebuildCursor is null && state.Version >= 2)
            {
                Assert.StartsWith("all-MiniLM-L6-v2/384/k", state.Model, StringComparison.Ordinal);
                Assert.NotEqual(SearchSchemaUpgrade.LegacyIdentity, state.Model);
                Assert.Equal(1, state.Items);
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, "the index was not re-indexed");
            await Task.Delay(100, Ct);
        }

        await WaitFoundAsync(client, "n1", "memory", "ＩＮＶ－４４０２", "keyword", [memory], Ct);
    }

    private static async Task<List<SearchNamespaceRow>> StatesAsync(ServiceHost host)
    {
        await using var scope = host.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DialogueDbContext>();
        await db.UseNamespaceAsync("n1", Ct);
        return await db.SearchNamespaces.AsNoTracking().Where(n => n.Namespace == "n1").ToListAsync(Ct);
    }

    private static async Task AssertReindexAsync(ServiceOptions options, string key, string[] connection)
    {
        options.SearchEnabled = false;
        string memory, dialogue, other;
        await using (var host = await ServiceHost.StartAsync(options))
        {
            using var client = host.CreateClient(key);
            memory = await CreateMemoryAsync(client, "n1", "Order ORD-5512 ships from the Rotterdam warehouse.", Ct);
            dialogue = await CreateDialogueAsync(client, "n1", "Where is ORD-5512 now?", Ct);
            other = await CreateMemoryAsync(client, "n2", "Order ORD-5512 was cancelled in namespace two.", Ct);
        }

        var first = await RunCliAsync(Ct, ["reindex", .. connection, "--namespace", "n1"]);
        Assert.True(first.ExitCode == 0, first.Errors);
        Assert.Contains("The search index is rebuilt.", first.Output, StringComparison.Ordinal);

        // The API only queues from here on; this test's index processes are the reindex runs themselves.
        options.SearchEnabled = true;
        options.SearchIndexer = "external";
        await using (var host = await ServiceHost.StartAsync(options))
        {
            using var client = host.CreateClient(key);
            Assert.Equal([memory], await SearchAsync(client, "n1", "memory", "ORD-5512", "keyword", Ct));
            Assert.Equal([dialogue], await SearchAsync(client, "n1", "message", "ORD-5512", "keyword", Ct));
            Assert.Equal([memory], await SearchAsync(client, "n1", "memory", "Rotterdam warehouse shipment", "semantic", Ct));
            Assert.Empty(await SearchAsync(client, "n2", "memory", "ORD-5512", "keyword", Ct));

            var all = await RunCliAsync(Ct, ["reindex", .. connection]);
            var again = await RunCliAsync(Ct, ["reindex", .. connection]);
            Assert.True(all.ExitCode == 0, all.Errors);
            Assert.True(again.ExitCode == 0, again.Errors);

            Assert.Equal([memory], await SearchAsync(client, "n1", "memory", "ORD-5512", "keyword", Ct));
            Assert.Equal([dialogue], await SearchAsync(client, "n1", "message", "ORD-5512", "keyword", Ct));
            Assert.Equal([other], await SearchAsync(client, "n2", "memory", "ORD-5512", "keyword", Ct));
        }
    }
}
