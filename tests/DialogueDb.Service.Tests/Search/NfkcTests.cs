using System.Text;
using DialogueDb.Service.Search;

namespace DialogueDb.Service.Tests.Search;

/// <summary>
/// NFKC without ICU (the service runs with invariant globalization, where <see cref="string.Normalize()"/> returns
/// non-ASCII text unchanged): expected forms are from the Unicode data (NormalizationTest.txt gives the same).
/// </summary>
public sealed class NfkcTests
{
    [Theory]
    [InlineData("ＡＢＣ１２３", "ABC123")]                  // full-width letters and digits
    [InlineData("ﬁﬂﬀ", "fiflff")]                          // ligatures
    [InlineData("①⑫⒌", "1125.")]                           // circled, parenthesised compatibility digits
    [InlineData("x²₃", "x23")]                              // superscript and subscript digits
    [InlineData("\U0001D400\U0001D7CF", "A1")]             // mathematical bold A and digit one (outside the BMP)
    [InlineData("Ⅻ㎏", "XIIkg")]                           // Roman numeral, CJK compatibility unit
    [InlineData("e\u0301", "\u00e9")]                        // canonical composition
    [InlineData("\u1e0b\u0323", "\u1e0d\u0307")]             // reordering of marks before composition
    [InlineData("ｶﾞｷﾞ", "ガギ")]                             // half-width katakana with voiced mark compose
    [InlineData("\u1112\u1161\u11ab", "한")]                 // conjoining jamo compose into a syllable
    [InlineData("한국어", "한국어")]                            // precomposed Hangul stays
    [InlineData("plain ascii", "plain ascii")]
    public void Normalize_MatchesTheUnicodeNfkcForm(string text, string expected) =>
        Assert.Equal(expected, Nfkc.Normalize(text));

    [Fact]
    public void Normalize_IsIdempotentOverEveryNormalisedTableEntry()
    {
        // Every compatibility character, normalised once, is stable under a second normalisation.
        var sample = new StringBuilder();
        for (var point = 0xA0; point < 0x30000; point++)
        {
            if (point is >= 0xD800 and <= 0xDFFF)
            {
                continue;
            }

            sample.Append(new Rune(point).ToString()).Append(' ');
        }

        var once = Nfkc.Normalize(sample.ToString());
        Assert.Equal(once, Nfkc.Normalize(once));
        Assert.NotEqual(sample.ToString(), once);
    }

    [Fact]
    public void InvariantGlobalization_StringNormalizeLeavesCompatibilityFormsAlone()
    {
        // Why Nfkc exists: without ICU data the runtime's normalisation is a no-op for non-ASCII text.
        Assert.Equal("ＡＢＣ", "ＡＢＣ".Normalize(NormalizationForm.FormKC));
    }

    [Theory]
    [InlineData("ＩＮＶ－２０２４", "INV-2024")]
    [InlineData("ﬁnance", "finance")]
    [InlineData("order ①②③", "order 123")]
    [InlineData("\U0001D42C\U0001D41E\U0001D42B\U0001D42F\U0001D41E\U0001D42B", "server")]
    [InlineData("ｻｰﾊﾞｰ", "サーバー")]
    public void Terms_CompatibilityForms_MatchTheirPlainForms(string text, string plain) =>
        Assert.Equal(KeywordAnalyzer.Terms(plain), KeywordAnalyzer.Terms(text));
}
