using DialogueDb.Service.Search;

namespace DialogueDb.Service.Tests.Search;

public sealed class KeywordAnalyzerTests
{
    [Theory]
    [InlineData("Café", "cafe")]
    [InlineData("ÉCOLE", "ecol")]
    [InlineData("ﬁle", "file")]
    [InlineData("Ｆｕｌｌ", "full")]
    [InlineData("Cafe\u0301", "cafe")]
    [InlineData("Straße", "strass")]
    public void Terms_CompatibilityFormsAndAccents_FoldToPlainLowerCase(string text, string expected) =>
        Assert.Equal([expected], KeywordAnalyzer.Terms(text));

    [Theory]
    [InlineData("invoices", "invoice")]
    [InlineData("deployed", "deploying")]
    [InlineData("deployment", "deploy")]
    [InlineData("running", "runs")]
    [InlineData("meetings", "meeting")]
    [InlineData("batteries", "battery")]
    public void Stem_InflectedForms_Meet(string a, string b) =>
        Assert.Equal(KeywordAnalyzer.Stem(a), KeywordAnalyzer.Stem(b));

    [Fact]
    public void Terms_Identifier_KeptWholeBesidesItsParts()
    {
        var terms = KeywordAnalyzer.Terms("Ticket INV-2024-0042 was paid");

        Assert.Contains("inv-2024-0042", terms);
        Assert.Contains("2024", terms);
        Assert.Contains("0042", terms);
        Assert.Contains("ticket", terms);
        Assert.DoesNotContain("was", terms);
    }

    [Fact]
    public void TermFrequencies_RepeatedWords_Counted()
    {
        var counts = KeywordAnalyzer.TermFrequencies("the red car and the red bike");

        Assert.Equal(2, counts["red"]);
        Assert.Equal(1, counts["car"]);
        Assert.False(counts.ContainsKey("the"));
    }

    [Fact]
    public void Terms_LongRun_CutToMaximumLength() =>
        Assert.Equal(KeywordAnalyzer.MaxTermLength, KeywordAnalyzer.Terms(new string('x', 500)).Single().Length);
}
