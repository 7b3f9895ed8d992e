using DialogueDb.Service.Search;

namespace DialogueDb.Service.Tests.Search;

public sealed class RankingTests
{
    [Fact]
    public void Fuse_ItemFirstInBothRankings_FirstWithRelevanceOne()
    {
        var fused = RankFusion.Fuse<string>(["a", "b", "c"], ["a", "c"]);

        Assert.Equal(["a", "c", "b"], fused.Select(f => f.Key));
        Assert.Equal(1.0, fused[0].Score, 6);
        Assert.True(fused[2].Score is > 0 and < 1);
    }

    [Fact]
    public void Bm25_RareTermAndShortDocument_ScoreHigher()
    {
        var rare = Bm25.Idf(1000, 2);
        var common = Bm25.Idf(1000, 600);
        Assert.True(rare > common);
        Assert.True(Bm25.Term(rare, 1, 10, 20) > Bm25.Term(rare, 1, 40, 20));
        Assert.True(Bm25.Term(rare, 3, 20, 20) > Bm25.Term(rare, 1, 20, 20));
        Assert.InRange(Bm25.Relevance(Bm25.Term(rare, 3, 20, 20)), 0, 1);
    }
}
