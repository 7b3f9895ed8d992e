using System.Security.Cryptography;
using System.Text;
using DialogueDb.Service.Search;
using DialogueDb.Service.Security;

namespace DialogueDb.Service.Tests.Search;

public sealed class BlindTokenKeyTests
{
    [Fact]
    public void Token_SameTermAndProject_Equal()
    {
        var ring = EncryptionKeyRing.NewRing();

        Assert.Equal(new BlindTokenKey(() => ring, "p1").Token("invoice"), new BlindTokenKey(() => ring, "p1").Token("invoice"));
    }

    [Fact]
    public void Token_OtherProjectOrTerm_Differs()
    {
        var ring = EncryptionKeyRing.NewRing();
        var key = new BlindTokenKey(() => ring, "p1");

        Assert.NotEqual(key.Token("invoice"), new BlindTokenKey(() => ring, "p2").Token("invoice"));
        Assert.NotEqual(key.Token("invoice"), key.Token("invoices!"));
    }

    [Fact]
    public void Token_NeverKeyedWithTheDataKeyItself()
    {
        var ring = EncryptionKeyRing.NewRing();
        var underDataKey = HMACSHA256.HashData(ring.ActiveKey, Encoding.UTF8.GetBytes("invoice"))[..BlindTokenKey.TokenLength];

        Assert.NotEqual(BlindToken.Read(underDataKey), new BlindTokenKey(() => ring, "p1").Token("invoice"));
    }

    [Fact]
    public void Token_AfterKeyRotation_Unchanged()
    {
        var ring = EncryptionKeyRing.NewRing();
        var current = ring;
        var key = new BlindTokenKey(() => current, "p1");
        var before = key.Token("invoice");

        current = ring.Rotate();

        Assert.Equal(before, key.Token("invoice"));
    }

    [Fact]
    public void Tokenizer_GivesTheKeysTokens_ForRepeatedLongAndNonAsciiTerms()
    {
        var ring = EncryptionKeyRing.NewRing();
        var key = new BlindTokenKey(() => ring, "p1");
        string[] terms = ["invoice", "straße", "invoice", "日本語", new string('x', 300), "", "inv-2024-0042", "straße"];

        using var tokenizer = key.Tokenizer();

        Assert.Equal(terms.Select(key.Token), terms.Select(tokenizer.Token));
    }

    [Fact]
    public void Tokenizer_OtherProject_Differs()
    {
        var ring = EncryptionKeyRing.NewRing();
        using var p1 = new BlindTokenKey(() => ring, "p1").Tokenizer();
        using var p2 = new BlindTokenKey(() => ring, "p2").Tokenizer();

        Assert.NotEqual(p1.Token("invoice"), p2.Token("invoice"));
        Assert.NotEqual(p1.Token("invoice"), p1.Token("invoices"));
    }
}
