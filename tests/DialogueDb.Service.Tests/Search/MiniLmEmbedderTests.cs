using System.Numerics.Tensors;
using DialogueDb.Service.Search;

namespace DialogueDb.Service.Tests.Search;

/// <summary>The in-process model, on a handful of texts (inference is the slow part of search; CI keeps it small).</summary>
public sealed class MiniLmEmbedderTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Embed_ReferenceSentence_MatchesSentenceTransformers()
    {
        // sentence-transformers' all-MiniLM-L6-v2 on this sentence starts with these components.
        var vector = (await new MiniLmEmbedder().EmbedAsync(["This is an example sentence"], Ct))[0].Single();

        Assert.Equal(384, vector.Length);
        float[] expected = [0.0676569f, 0.0634959f, 0.0487131f, 0.0793050f, 0.0374480f];
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i], vector[i], 0.0005f);
        }

        Assert.Equal(1f, TensorPrimitives.Norm(vector), 0.001f);
    }

    [Fact]
    public async Task Embed_Paraphrase_CloserThanUnrelatedText()
    {
        var vectors = await new MiniLmEmbedder().EmbedAsync(
            ["The cat sits on the mat", "A kitten is resting on a rug", "Quarterly revenue fell sharply"], Ct);

        var paraphrase = TensorPrimitives.Dot(vectors[0][0], vectors[1][0]);
        var unrelated = TensorPrimitives.Dot(vectors[0][0], vectors[2][0]);
        Assert.True(paraphrase > unrelated + 0.3f, $"paraphrase {paraphrase}, unrelated {unrelated}");
    }

    [Fact]
    public async Task Embed_TextLongerThanTheWindow_OneVectorPerOverlappingChunk()
    {
        var words = string.Join(' ', Enumerable.Range(0, 600).Select(i => i % 2 == 0 ? "river" : "boat"));

        var vectors = await new MiniLmEmbedder().EmbedAsync([words, ""], Ct);

        // 600 word pieces in windows of 254 advancing by 222: 3 chunks. An empty text still gets one vector.
        Assert.Equal(3, vectors[0].Length);
        Assert.Single(vectors[1]);
    }
}
