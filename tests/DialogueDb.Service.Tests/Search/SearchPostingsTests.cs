using DialogueDb.Service.Search;
using DialogueDb.Service.Security;

namespace DialogueDb.Service.Tests.Search;

public sealed class SearchPostingsTests
{
    private static readonly ContentProtector Protector = new(EncryptionKeyRing.NewRing(), "postings");
    private static readonly SearchItemKey M1 = SearchItemKey.Message("d1", "m1");

    [Fact]
    public void Protect_ThenUnprotect_SameTokensAndFrequencies()
    {
        var key = new BlindTokenKey(Protector, "postings");
        ItemTerm[] terms = [new(key.Token("invoice"), 3), new(key.Token("inv-2024-0042"), 1), new(new BlindToken(ulong.MaxValue, 0), 70000)];

        var stored = SearchPostings.Protect(Protector, "ns", M1, terms);

        Assert.Equal(terms, SearchPostings.Unprotect(Protector, "ns", M1, stored));
        var memory = SearchItemKey.Memory("m2");
        Assert.Empty(SearchPostings.Unprotect(Protector, "ns", memory, SearchPostings.Protect(Protector, "ns", memory, [])));
    }

    [Fact]
    public void Protect_NoTokenBytesInTheStoredForm()
    {
        var token = new BlindTokenKey(Protector, "postings").Token("invoice");
        var bytes = new byte[BlindToken.Length];
        token.Write(bytes);

        var stored = SearchPostings.Protect(Protector, "ns", M1, [new(token, 1)]);

        Assert.Equal(-1, stored.AsSpan().IndexOf(bytes.AsSpan(0, 8)));
        Assert.Equal(-1, stored.AsSpan().IndexOf(bytes.AsSpan(8, 8)));
    }

    [Fact]
    public void Unprotect_UnderAnotherItemsIdentity_Refused()
    {
        var stored = SearchPostings.Protect(Protector, "ns", M1, [new(new BlindToken(1, 2), 1)]);

        Assert.ThrowsAny<ContentDecryptionException>(() => SearchPostings.Unprotect(Protector, "ns", SearchItemKey.Message("d1", "m2"), stored));
        Assert.ThrowsAny<ContentDecryptionException>(() => SearchPostings.Unprotect(Protector, "other", M1, stored));
        Assert.ThrowsAny<ContentDecryptionException>(() => SearchPostings.Unprotect(Protector, "ns", SearchItemKey.Memory("m1"), stored));
    }

    [Fact]
    public void Unprotect_TheSameMessageIdInAnotherDialogue_Refused()
    {
        var stored = SearchPostings.Protect(Protector, "ns", M1, [new(new BlindToken(1, 2), 1)]);
        var vectors = SearchVectors.Protect(Protector, "ns", M1, [[1f, 0f]]);

        Assert.ThrowsAny<ContentDecryptionException>(() => SearchPostings.Unprotect(Protector, "ns", SearchItemKey.Message("d2", "m1"), stored));
        Assert.ThrowsAny<ContentDecryptionException>(() => SearchVectors.Unprotect(Protector, "ns", SearchItemKey.Message("d2", "m1"), vectors, 2));
    }

    [Fact]
    public void KeywordPostings_ListsEachTokensItemsAndFrequencies()
    {
        var (a, b, c) = (new BlindToken(1, 1), new BlindToken(2, 2), new BlindToken(3, 3));
        IndexedItem[] items =
        [
            new("i0", "d1", 3, [], [new(a, 2), new(b, 1)]),
            new("i1", "d1", 1, [], [new(b, 4)]),
            new("i2", "d1", 0, [], []),
            new("i3", "d1", 5, [], [new(a, 5)]),
        ];

        var postings = new KeywordPostings(items);

        Assert.Equal(2, postings.Count(a));
        Assert.Equal([0, 3], postings.Of(a).Items.ToArray());
        Assert.Equal([2, 5], postings.Of(a).Frequencies.ToArray());
        Assert.Equal([0, 1], postings.Of(b).Items.ToArray());
        Assert.Equal([1, 4], postings.Of(b).Frequencies.ToArray());
        Assert.Equal(0, postings.Count(c));
        Assert.True(postings.Of(c).Items.IsEmpty);
    }
}
