using DialogueDb.Service.Search;

namespace DialogueDb.Service.Tests.Search;

/// <summary>
/// One input the embedder fails for never holds up the others: a failing batch is retried (the caller backs off), then
/// split until the bad input stands alone and is reported failed; an embedder that is down marks nothing.
/// </summary>
public sealed class IsolatingEmbedderTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly List<(long Id, string Text)> Batch =
    [
        (10, "the blue flower pot"), (11, "a garage key"), (12, "poisonword in here"), (13, "fuse box"),
        (14, "spare tyre"), (15, "garden hose"), (16, "red bicycle"), (17, "wooden ladder"),
    ];

    [Fact]
    public async Task Embed_OneInputThrows_RetriedThenIsolatedOthersEmbedded()
    {
        var fake = new ScriptedEmbedder();
        fake.Fail("poisonword", () => new InvalidOperationException("refused poisonword"));
        var embedder = new IsolatingEmbedder(fake);

        var rounds = new List<EmbeddedBatch>();
        for (var i = 0; i < IsolatingEmbedder.FailuresBeforeIsolating; i++)
        {
            rounds.Add(await embedder.EmbedAsync(Batch, Ct));
        }

        // The first rounds may be a passing failure: retried as a whole, nothing marked.
        foreach (var round in rounds.SkipLast(1))
        {
            Assert.NotNull(round.Outage);
            Assert.Empty(round.Failed);
            Assert.Empty(round.Vectors);
        }

        var isolated = rounds[^1];
        Assert.Null(isolated.Outage);
        Assert.Equal([12L], isolated.Failed);
        Assert.Equal(Batch.Select(e => e.Id).Where(id => id != 12).Order(), isolated.Vectors.Keys.Order());
        // The reason names the exception's type only: its message quoted the input.
        Assert.Equal("The embedder failed (InvalidOperationException)", isolated.Reason);
    }

    [Fact]
    public async Task Embed_InputRefused_IsolatedAtOnceByHalving()
    {
        var fake = new ScriptedEmbedder();
        fake.Fail("poisonword", () => new EmbeddingsFailure("The embeddings endpoint refused the request (400)") { Refused = true });
        var embedder = new IsolatingEmbedder(fake);

        var batch = await embedder.EmbedAsync(Batch, Ct);

        Assert.Null(batch.Outage);
        Assert.Equal([12L], batch.Failed);
        Assert.Equal(7, batch.Vectors.Count);
        Assert.Contains("(400)", batch.Reason, StringComparison.Ordinal);
        // The whole batch, the probe, then two halves per level of 8 → 4 → 2 → 1: far fewer than one call per input.
        Assert.Equal(1 + 1 + (2 * 3), fake.Calls.Count);
        Assert.Contains(fake.Calls, c => c is [IsolatingEmbedder.ProbeText]);
    }

    [Fact]
    public async Task Embed_EmbedderDown_NothingMarkedAndAllEmbeddedOnceBack()
    {
        var fake = new ScriptedEmbedder { Down = true };
        var embedder = new IsolatingEmbedder(fake);

        for (var i = 0; i < IsolatingEmbedder.FailuresBeforeIsolating * 2; i++)
        {
            var round = await embedder.EmbedAsync(Batch, Ct);
            Assert.NotNull(round.Outage);
            Assert.Empty(round.Failed);
        }

        fake.Down = false;
        var back = await embedder.EmbedAsync(Batch, Ct);

        Assert.Null(back.Outage);
        Assert.Empty(back.Failed);
        Assert.Equal(Batch.Count, back.Vectors.Count);
    }

    [Fact]
    public async Task Embed_PassingFailure_RetriedAsAWholeNothingMarked()
    {
        var fake = new ScriptedEmbedder();
        fake.Fail("poisonword", () => new EmbeddingsFailure("The embeddings endpoint answered 503; gave up after 4 tries"),
            times: IsolatingEmbedder.FailuresBeforeIsolating - 1);
        var embedder = new IsolatingEmbedder(fake);

        var first = await embedder.EmbedAsync(Batch, Ct);
        var second = await embedder.EmbedAsync(Batch, Ct);
        var third = await embedder.EmbedAsync(Batch, Ct);

        Assert.NotNull(first.Outage);
        Assert.NotNull(second.Outage);
        Assert.Null(third.Outage);
        Assert.Empty(third.Failed);
        Assert.Equal(Batch.Count, third.Vectors.Count);
        Assert.Equal(3, fake.Calls.Count);
    }

    [Fact]
    public async Task Embed_NoInputPassesOnItsOwn_NothingMarkedUntilOneBehindThemPasses()
    {
        var fake = new ScriptedEmbedder();
        fake.Fail("poisonword", () => new InvalidOperationException("boom"));
        var embedder = new IsolatingEmbedder(fake);
        List<(long Id, string Text)> bad = [(20, "poisonword one"), (21, "poisonword two")];

        for (var i = 0; i < IsolatingEmbedder.FailuresBeforeIsolating * 2; i++)
        {
            var round = await embedder.EmbedAsync(bad, Ct);
            Assert.NotNull(round.Outage);
            Assert.Empty(round.Failed);
        }

        var withGood = await embedder.EmbedAsync([.. bad, (22, "a good note")], Ct);

        Assert.Null(withGood.Outage);
        Assert.Equal([20L, 21L], withGood.Failed.Order());
        Assert.Equal([22L], withGood.Vectors.Keys);
    }

    [Fact]
    public async Task Embed_AnswerOfTheWrongShape_CountsAsAFailure()
    {
        var embedder = new IsolatingEmbedder(new ShortAnswerEmbedder());

        var batch = await embedder.EmbedAsync(Batch, Ct);

        Assert.NotNull(batch.Outage);
        Assert.Empty(batch.Vectors);
    }

    [Fact]
    public async Task Retry_InputsThatFailAgain_IsolatedAtOnceOthersEmbedded()
    {
        var fake = new ScriptedEmbedder();
        fake.Fail("poisonword", () => new InvalidOperationException("boom"));
        var embedder = new IsolatingEmbedder(fake);
        var batch = new EmbeddedBatch();

        // No rounds: retried entries failed on their own before. Even with no input passing, the probe shows it is theirs.
        await embedder.RetryAsync([(30, "poisonword again"), (31, "poisonword too")], batch, Ct);

        Assert.Null(batch.Outage);
        Assert.Equal([30L, 31L], batch.Failed.Order());
        Assert.Empty(batch.Vectors);

        await embedder.RetryAsync([(32, "poisonword still"), (33, "a note it takes now")], batch, Ct);
        Assert.Equal([30L, 31L, 32L], batch.Failed.Order());
        Assert.Equal([33L], batch.Vectors.Keys);
    }

    [Fact]
    public async Task Retry_EmbedderDown_NothingMarked()
    {
        var fake = new ScriptedEmbedder { Down = true };
        var batch = new EmbeddedBatch();

        await new IsolatingEmbedder(fake).RetryAsync([(30, "a note"), (31, "another note")], batch, Ct);

        Assert.NotNull(batch.Outage);
        Assert.Empty(batch.Failed);
        Assert.Empty(batch.Vectors);
    }

    /// <summary>Answers one vector fewer than it was asked for.</summary>
    private sealed class ShortAnswerEmbedder : IEmbedder
    {
        public int Dimensions => 4;

        public string Model => "short";

        public ValueTask<float[][][]> EmbedAsync(IReadOnlyList<string> texts, CancellationToken ct) =>
            ValueTask.FromResult<float[][][]>([.. texts.Skip(1).Select(_ => new[] { new float[] { 1, 0, 0, 0 } })]);
    }
}
