using DialogueDb.Service.Search;

namespace DialogueDb.Service.Tests.Search;

/// <summary>The embeddings endpoint client against a real HTTP server on loopback.</summary>
public sealed class EndpointEmbedderTests
{
    private const int Dimensions = 16;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static EndpointEmbedder Embedder(LoopbackEmbeddingsServer server, string? keyFile = null, int batchSize = 2) =>
        new(new HttpClient(), new EndpointEmbedderSettings(server.BaseUrl, "test-embed", Dimensions, keyFile, batchSize,
            TimeSpan.FromSeconds(10))
        {
            FirstBackoff = TimeSpan.FromMilliseconds(10),
        }, TimeProvider.System);

    [Fact]
    public async Task Embed_BatchesInputs_PlacesVectorsByIndex_SendsModelAndKeyFromFile()
    {
        await using var server = await LoopbackEmbeddingsServer.StartAsync(Dimensions);
        using var folder = new Infrastructure.TestFolder();
        var keyFile = Path.Combine(folder.Path, "key");
        await File.WriteAllTextAsync(keyFile, "sk-test-123\n", Ct);
        string[] texts = ["red apples", "green pears", "", "blue sky", "red wine"];

        var vectors = await Embedder(server, keyFile).EmbedAsync(texts, Ct);

        Assert.Equal(3, server.Requests.Count);
        Assert.All(server.Requests, r => Assert.Equal("test-embed", r.Model));
        Assert.All(server.Requests, r => Assert.Equal("Bearer sk-test-123", r.Authorization));
        Assert.Equal(texts.Length, vectors.Length);
        for (var i = 0; i < texts.Length; i++)
        {
            var expected = LoopbackEmbeddingsServer.VectorOf(texts[i].Length == 0 ? " " : texts[i], Dimensions);
            var norm = MathF.Sqrt(expected.Sum(v => v * v));
            var vector = Assert.Single(vectors[i]);
            Assert.Equal(Dimensions, vector.Length);
            Assert.Equal(expected.Select(v => v / norm), vector, (a, b) => Math.Abs(a - b) < 1e-5);
        }
    }

    [Fact]
    public async Task Embed_ServerErrorsAndRateLimits_RetriedThenAnswered()
    {
        await using var server = await LoopbackEmbeddingsServer.StartAsync(Dimensions);
        server.FailNext(500, 429, 503);

        var vectors = await Embedder(server).EmbedAsync(["one text"], Ct);

        Assert.Single(vectors);
        Assert.Equal(4, server.Requests.Count);
    }

    [Fact]
    public async Task Embed_EndpointKeepsFailing_FailsAfterBoundedTriesNamingTheStatusOnly()
    {
        await using var server = await LoopbackEmbeddingsServer.StartAsync(Dimensions);
        server.FailNext(502, 502, 502, 502, 502);

        var failure = await Assert.ThrowsAsync<EmbeddingsFailure>(() => Embedder(server).EmbedAsync(["secret words"], Ct).AsTask());

        Assert.Equal(EndpointEmbedder.MaxTries, server.Requests.Count);
        Assert.Contains("502", failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Embed_ClientError_NotRetried()
    {
        await using var server = await LoopbackEmbeddingsServer.StartAsync(Dimensions);
        server.FailNext(401);

        var failure = await Assert.ThrowsAsync<EmbeddingsFailure>(() => Embedder(server).EmbedAsync(["a"], Ct).AsTask());

        Assert.Single(server.Requests);
        Assert.Contains("401", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Embed_VectorsOfAnotherLength_Refused()
    {
        await using var server = await LoopbackEmbeddingsServer.StartAsync(Dimensions);
        server.Dimensions = Dimensions * 2;

        var failure = await Assert.ThrowsAsync<EmbeddingsFailure>(() => Embedder(server).EmbedAsync(["a"], Ct).AsTask());

        Assert.Contains("32 dimensions", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Embed_KeyFileMissing_FailsWithoutCallingTheEndpoint()
    {
        await using var server = await LoopbackEmbeddingsServer.StartAsync(Dimensions);

        await Assert.ThrowsAsync<EmbeddingsFailure>(() => Embedder(server, "/nonexistent/key").EmbedAsync(["a"], Ct).AsTask());

        Assert.Empty(server.Requests);
    }

    [Fact]
    public void Chunks_LongText_OverlappingWindowsCoveringIt()
    {
        var text = string.Concat(Enumerable.Range(0, 1600).Select(i => $"w{i:D4} "));

        var chunks = EndpointEmbedder.Chunks(text).ToList();

        Assert.Equal(2, chunks.Count);
        Assert.All(chunks, c => Assert.True(c.Length <= EndpointEmbedder.ChunkChars));
        var overlap = EndpointEmbedder.OverlapChars;
        Assert.StartsWith(chunks[1][..overlap], chunks[0][^overlap..], StringComparison.Ordinal);
        Assert.EndsWith(chunks[1], text, StringComparison.Ordinal);
    }
}
