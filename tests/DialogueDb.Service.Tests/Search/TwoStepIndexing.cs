using System.Diagnostics.Metrics;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Search;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using DialogueDb.Service.Telemetry;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using static DialogueDb.Service.Tests.Search.SearchTestClient;

namespace DialogueDb.Service.Tests.Search;

/// <summary>
/// Indexing in two steps, on both engines: a write is searchable by keyword first (in commit order) and by meaning once
/// its vectors follow through <c>search_vector_queue</c>; a deletion takes the item out of that queue and of every
/// result, even while its vectors are being computed; the queue survives a restart; and an item the embedder fails for
/// is marked failed without holding up the items behind it, and tried again on its schedule. The embedder is a scripted fake (fault injection); tests
/// wait with a deadline, never asserting how fast.
/// </summary>
public abstract class TwoStepIndexing
{
    protected abstract bool Postgres { get; }

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected static string Word(string prefix) => prefix + Random.Shared.Next(100_000, 999_999);

    [Fact]
    public async Task Append_KeywordSearchableFirst_SemanticFollows()
    {
        await using var engine = await SearchTestEngine.CreateAsync(Postgres, "two-step");
        var word = Word("heldword");
        var embedder = new ScriptedEmbedder();
        embedder.Hold(word);
        await using var host = await engine.StartAsync(embedder);
        using var client = host.CreateClient(engine.Key);

        var memory = await CreateMemoryAsync(client, "n1", $"The {word} lighthouse tour starts at the harbour", Ct);
        var dialogue = await CreateDialogueAsync(client, "n1", $"Book the {word} lighthouse tour for Sunday", Ct);
        await WaitFoundAsync(client, "n1", "memory", word, "keyword", [memory], Ct);
        await WaitFoundAsync(client, "n1", "message", word, "keyword", [dialogue], Ct);

        // Searchable by its words while the model still works on its vectors; not yet by meaning.
        Assert.Empty(await SearchAsync(client, "n1", "memory", "harbour lighthouse tour", "semantic", Ct));
        Assert.Empty(await SearchAsync(client, "n1", "message", "harbour lighthouse tour", "semantic", Ct));
        Assert.Equal(["memory", "message"], (await engine.VectorQueueAsync("n1", Ct)).Select(e => e.Kind).Order());

        embedder.Release(word);
        await WaitFoundAsync(client, "n1", "memory", "harbour lighthouse tour", "semantic", [memory], Ct);
        await WaitFoundAsync(client, "n1", "message", "lighthouse tour Sunday", "semantic", [dialogue], Ct);
        await WaitUntilAsync(async () => (await engine.VectorQueueAsync("n1", Ct)).Count == 0, "the vector queue did not empty");
    }

    [Fact]
    public async Task Delete_WhileVectorsPending_LeavesVectorQueueAndResults()
    {
        await using var engine = await SearchTestEngine.CreateAsync(Postgres, "two-step-delete");
        var word = Word("heldword");
        var embedder = new ScriptedEmbedder();
        embedder.Hold(word);
        await using var host = await engine.StartAsync(embedder);
        using var client = host.CreateClient(engine.Key);
        var memory = await CreateMemoryAsync(client, "n1", $"The {word} lighthouse tour starts at the harbour", Ct);
        var dialogue = await CreateDialogueAsync(client, "n1", $"Book the {word} lighthouse tour for Sunday", Ct);
        await WaitFoundAsync(client, "n1", "memory", word, "keyword", [memory], Ct);
        await WaitFoundAsync(client, "n1", "message", word, "keyword", [dialogue], Ct);
        Assert.Equal(2, (await engine.VectorQueueAsync("n1", Ct)).Count);

        // Deleted while the model holds their vectors.
        using (var deleted = await client.DeleteAsync($"api/v1/memory/{memory}?namespace=n1", Ct))
        {
            deleted.EnsureSuccessStatusCode();
        }

        using (var deleted = await client.DeleteAsync($"api/v1/dialogue/{dialogue}?namespace=n1", Ct))
        {
            deleted.EnsureSuccessStatusCode();
        }

        // Searches leave out items that are gone at once; the indexer takes them out of the index and the vector queue.
        await WaitUntilAsync(async () => (await engine.VectorQueueAsync("n1", Ct)).Count == 0, "the deleted items are still queued");
        Assert.Empty(await SearchAsync(client, "n1", "memory", word, "keyword", Ct));
        Assert.Empty(await SearchAsync(client, "n1", "message", word, "keyword", Ct));

        // The held vectors come back for items that are gone: never stored. A later item's vectors are computed after
        // them, so once it is searchable by meaning the held ones were dealt with.
        embedder.Release(word);
        var later = await CreateMemoryAsync(client, "n1", "A later note about the weather", Ct);
        await WaitFoundAsync(client, "n1", "memory", "later weather note", "semantic", [later], Ct);

        Assert.Equal([later], await SearchAsync(client, "n1", "memory", $"{word} lighthouse tour harbour", "semantic", Ct));
        Assert.Empty(await SearchAsync(client, "n1", "message", $"{word} lighthouse tour Sunday", "semantic", Ct));
        Assert.Empty(await engine.VectorQueueAsync("n1", Ct));
    }

    [Fact]
    public async Task Restart_WithVectorsPending_LosesNothing()
    {
        await using var engine = await SearchTestEngine.CreateAsync(Postgres, "two-step-restart");
        var word = Word("heldword");
        var held = new ScriptedEmbedder();
        held.Hold(word);
        string[] memories;
        string dialogue;
        await using (var host = await engine.StartAsync(held))
        {
            using var client = host.CreateClient(engine.Key);
            memories =
            [
                await CreateMemoryAsync(client, "n1", $"The {word} orchard has forty apple trees", Ct),
                await CreateMemoryAsync(client, "n1", $"The {word} vineyard faces south", Ct),
            ];
            dialogue = await CreateDialogueAsync(client, "n1", $"When is the {word} harvest festival?", Ct);
            await WaitFoundAsync(client, "n1", "memory", word, "keyword", memories, Ct);
            await WaitFoundAsync(client, "n1", "message", word, "keyword", [dialogue], Ct);
            Assert.Equal(3, (await engine.VectorQueueAsync("n1", Ct)).Count);
        }

        // Stopped with the vectors still to compute: the queue is in the database, not in the process.
        Assert.Equal(3, (await engine.VectorQueueAsync("n1", Ct)).Count(e => !e.Failed));

        await using (var host = await engine.StartAsync(new ScriptedEmbedder()))
        {
            using var client = host.CreateClient(engine.Key);
            await WaitFoundAsync(client, "n1", "memory", "apple orchard trees", "semantic", [memories[0]], Ct);
            await WaitFoundAsync(client, "n1", "memory", "vineyard faces south", "semantic", [memories[1]], Ct);
            await WaitFoundAsync(client, "n1", "message", "harvest festival", "semantic", [dialogue], Ct);
            await WaitUntilAsync(async () => (await engine.VectorQueueAsync("n1", Ct)).Count == 0, "the vector queue did not empty");
            Assert.Equal(0, await engine.KeywordQueueAsync("n1", Ct));
        }
    }

    [Fact]
    public async Task EmbedderThrowsForOneItem_MarkedFailedOthersIndexed()
    {
        await using var engine = await SearchTestEngine.CreateAsync(Postgres, "two-step-poison");
        var poison = Word("poisonword");
        var embedder = new ScriptedEmbedder();
        embedder.Fail(poison, () => new InvalidOperationException($"cannot embed {poison}"));
        await using var host = await engine.StartAsync(embedder);
        using var failures = new EmbeddingFailureCounter(host.Services);
        using var client = host.CreateClient(engine.Key);

        var before = await CreateMemoryAsync(client, "n1", "Alpha note about the orchard", Ct);
        var bad = await CreateMemoryAsync(client, "n1", $"The {poison} recipe card", Ct);
        var after = await CreateMemoryAsync(client, "n1", "Gamma note about the vineyard", Ct);

        await WaitFoundAsync(client, "n1", "memory", "alpha orchard note", "semantic", [before], Ct);
        await WaitFoundAsync(client, "n1", "memory", "gamma vineyard note", "semantic", [after], Ct);
        await WaitUntilAsync(async () => (await engine.VectorQueueAsync("n1", Ct)) is [("memory", var id, true)] && id == bad,
            "the item the embedder fails for was not marked failed");
        // Still searchable by its words; and the failed entry holds up nothing written later.
        Assert.Equal([bad], await SearchAsync(client, "n1", "memory", poison, "keyword", Ct));
        var later = await CreateMemoryAsync(client, "n1", "Delta note about the meadow", Ct);
        await WaitFoundAsync(client, "n1", "memory", "delta meadow note", "semantic", [later], Ct);

        Assert.Equal(1, failures.Count);
        Assert.Contains("The embedder failed for 1 item(s) on their own (The embedder failed (InvalidOperationException))",
            host.Logs.All, StringComparison.Ordinal);
        Assert.DoesNotContain(poison, host.Logs.All, StringComparison.Ordinal);
        // At rest, the queue names the item, never its text.
        var stored = await engine.RawRowsAsync(SearchRowConfigurations.VectorQueueTable, Ct);
        Assert.Contains(stored, row => row.Contains(bad, StringComparison.Ordinal));
        Assert.DoesNotContain(stored, row => row.Contains(poison, StringComparison.Ordinal) || row.Contains("recipe", StringComparison.Ordinal));
    }

    [Fact]
    public async Task FailedItem_TriedAgainOnItsSchedule_VectorsStoredOnceTheEmbedderTakesIt()
    {
        await using var engine = await SearchTestEngine.CreateAsync(Postgres, "two-step-retry");
        var poison = Word("poisonword");
        var embedder = new ScriptedEmbedder();
        embedder.Fail(poison, () => new InvalidOperationException($"cannot embed {poison}"));
        await using var host = await engine.StartAsync(embedder);
        using var failedGauge = new VectorsFailedGauge(host.Services);
        using var client = host.CreateClient(engine.Key);
        var markedAfter = DateTimeOffset.UtcNow;
        var bad = await CreateMemoryAsync(client, "n1", $"The {poison} recipe card", Ct);
        // An input that passes behind it tells a bad input from an embedder that is down (another namespace: n1 holds
        // only the bad item).
        var good = await CreateMemoryAsync(client, "n2", "Gamma note about the vineyard", Ct);
        await WaitFoundAsync(client, "n2", "memory", "gamma vineyard note", "semantic", [good], Ct);
        await WaitUntilAsync(async () => (await engine.VectorQueueAsync("n1", Ct)) is [(_, _, true)], "the item was not marked failed");
        var (attempts, next) = (await engine.VectorRetriesAsync("n1", Ct)).Single();
        Assert.Equal(1, attempts);
        Assert.InRange(DateTimeOffset.FromUnixTimeMilliseconds(next), markedAfter + EmbeddingRetrySchedule.First,
            DateTimeOffset.UtcNow + EmbeddingRetrySchedule.First);
        Assert.Equal(1, failedGauge.Read());

        // The host's indexer runs on the real clock (its retry is 10 minutes away); a second indexer over the same
        // database, on a clock moved by hand, plays the later rounds.
        var clock = new FakeTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(next) - TimeSpan.FromSeconds(1));
        var retrier = new SearchVectorIndexer(host.Services.GetRequiredService<ContentProtector>(), embedder, clock,
            host.Services.GetRequiredService<ILogger<SearchVectorIndexer>>(), host.Services.GetRequiredService<ServiceMetrics>());
        var database = MaintenanceDatabase.Open(engine.Options());
        await using var connections = database.DataSource;
        using var writes = new SemaphoreSlim(1, 1);
        var calls = embedder.Calls.Count;
        Assert.Equal(0, await retrier.EmbedNextAsync(database.NewContext, writes, Ct));
        Assert.Equal(calls, embedder.Calls.Count);

        // Due, and the embedder still fails for it: failed again, isolated at once, next tried twice as late.
        clock.Advance(SearchVectorIndexer.RetryCheck);
        Assert.Equal(1, await retrier.EmbedNextAsync(database.NewContext, writes, Ct));
        Assert.Equal([(2, (clock.GetUtcNow() + EmbeddingRetrySchedule.After(2)).ToUnixTimeMilliseconds())],
            await engine.VectorRetriesAsync("n1", Ct));
        Assert.Equal([("memory", bad, true)], await engine.VectorQueueAsync("n1", Ct));
        Assert.Equal(1, failedGauge.Read());
        Assert.Equal(TimeSpan.FromMinutes(20), EmbeddingRetrySchedule.After(2));

        // The embedder takes it now: nothing happens before its time, then its vectors are stored and it leaves the queue.
        embedder.Fail(poison, () => new InvalidOperationException("no longer"), times: 0);
        clock.Advance(EmbeddingRetrySchedule.After(2) - SearchVectorIndexer.RetryCheck);
        Assert.Equal(0, await retrier.EmbedNextAsync(database.NewContext, writes, Ct));
        Assert.Equal([("memory", bad, true)], await engine.VectorQueueAsync("n1", Ct));
        clock.Advance(SearchVectorIndexer.RetryCheck);
        Assert.Equal(1, await retrier.EmbedNextAsync(database.NewContext, writes, Ct));
        Assert.Empty(await engine.VectorQueueAsync("n1", Ct));
        Assert.Equal(0, failedGauge.Read());
        await WaitFoundAsync(client, "n1", "memory", "recipe card", "semantic", [bad], Ct);
        Assert.Contains("1 item(s) the embedder had failed for got their vectors at a later attempt", host.Logs.All, StringComparison.Ordinal);
        Assert.DoesNotContain(poison, host.Logs.All, StringComparison.Ordinal);
    }

    protected static async Task WaitUntilAsync(Func<Task<bool>> condition, string failure)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(100, Ct);
        }
    }

    /// <summary>The host's <c>dialoguedb.search.vector_queue.failed</c> gauge.</summary>
    protected sealed class VectorsFailedGauge : IDisposable
    {
        private readonly MeterListener _listener = new();
        private long _value = -1;

        public VectorsFailedGauge(IServiceProvider services)
        {
            var meters = services.GetRequiredService<IMeterFactory>();
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (ReferenceEquals(instrument.Meter.Scope, meters) && instrument.Name == "dialoguedb.search.vector_queue.failed")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Exchange(ref _value, value));
            _listener.Start();
        }

        public long Read()
        {
            _listener.RecordObservableInstruments();
            return Interlocked.Read(ref _value);
        }

        public void Dispose() => _listener.Dispose();
    }

    /// <summary>The host's <c>dialoguedb.search.embedding.failed</c> from now on.</summary>
    protected sealed class EmbeddingFailureCounter : IDisposable
    {
        private readonly MeterListener _listener = new();
        private long _count;

        public EmbeddingFailureCounter(IServiceProvider services)
        {
            var meters = services.GetRequiredService<IMeterFactory>();
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (ReferenceEquals(instrument.Meter.Scope, meters) && instrument.Name == "dialoguedb.search.embedding.failed")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _count, value));
            _listener.Start();
        }

        public long Count => Interlocked.Read(ref _count);

        public void Dispose() => _listener.Dispose();
    }
}

public sealed class TwoStepIndexingSqlite : TwoStepIndexing
{
    protected override bool Postgres => false;

    [Fact]
    public async Task EndpointRefusesOneInput_MarkedFailedOthersIndexed()
    {
        await using var server = await LoopbackEmbeddingsServer.StartAsync(32);
        var poison = Word("poisonword");
        server.Refuse(poison);
        using var dataDir = new TestFolder();
        var key = TestProject.Write(dataDir.Path, "two-step-endpoint").ReadWrite;
        await using var host = await ServiceHost.StartAsync(new ServiceOptions
        {
            DataDir = dataDir.Path, Urls = "https://127.0.0.1:0",
            EmbeddingsUrl = server.BaseUrl.AbsoluteUri, EmbeddingsModel = "loopback-bag-of-words", EmbeddingsDimensions = 32,
        });
        using var client = host.CreateClient(key);

        var before = await CreateMemoryAsync(client, "n1", "Alpha note about the orchard", Ct);
        var bad = await CreateMemoryAsync(client, "n1", $"The {poison} recipe card", Ct);
        var after = await CreateMemoryAsync(client, "n1", "Gamma note about the vineyard", Ct);

        await WaitFoundAsync(client, "n1", "memory", "alpha orchard note", "semantic", [before], Ct);
        await WaitFoundAsync(client, "n1", "memory", "gamma vineyard note", "semantic", [after], Ct);
        await WaitUntilAsync(() => Task.FromResult(host.Logs.All.Contains("refused the request (400)): they stay searchable",
            StringComparison.Ordinal)), "the refused item was not reported");
        Assert.Equal([bad], await SearchAsync(client, "n1", "memory", poison, "keyword", Ct));
        Assert.DoesNotContain(poison, host.Logs.All, StringComparison.Ordinal);
    }
}

public sealed class TwoStepIndexingPostgres : TwoStepIndexing
{
    protected override bool Postgres => true;
}
