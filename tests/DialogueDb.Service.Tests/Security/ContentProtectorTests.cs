using System.Text;
using DialogueDb.Service.Security;

namespace DialogueDb.Service.Tests.Security;

public sealed class ContentProtectorTests
{
    private static readonly RowIdentity Row = RowIdentity.MessageContent("ns-1", "dialogue-1", "message-1");

    [Fact]
    public void Encrypt_ThenDecrypt_RoundTripsAndHidesPlaintext()
    {
        var protector = new ContentProtector(EncryptionKeyRing.NewRing(), "project-1");
        const string plaintext = "\"secret-marker 日本語 👋\"";

        var ciphertext = protector.Encrypt(plaintext, Row);

        Assert.Equal(ContentProtector.FormatVersion, ciphertext[0]);
        Assert.Equal(1u, ContentProtector.KeyIdOf(ciphertext));
        Assert.Equal(-1, ciphertext.AsSpan().IndexOf(Encoding.UTF8.GetBytes("secret-marker")));
        Assert.Equal(plaintext, protector.DecryptString(ciphertext, Row));
    }

    [Fact]
    public void Encrypt_SamePlaintextTwice_DifferentNonces()
    {
        var protector = new ContentProtector(EncryptionKeyRing.NewRing(), "project-1");

        Assert.NotEqual(protector.Encrypt("same", Row), protector.Encrypt("same", Row));
    }

    [Theory]
    [InlineData(0)]    // format version
    [InlineData(4)]    // key id
    [InlineData(8)]    // nonce
    [InlineData(20)]   // ciphertext
    [InlineData(-1)]   // tag (last byte)
    public void Decrypt_AnyByteFlipped_Throws(int position)
    {
        var protector = new ContentProtector(EncryptionKeyRing.NewRing(), "project-1");
        var ciphertext = protector.Encrypt("\"a message long enough to tamper with\"", Row);
        var index = position < 0 ? ciphertext.Length - 1 : position;
        ciphertext[index] ^= 0x01;

        Assert.ThrowsAny<ContentDecryptionException>(() => protector.Decrypt(ciphertext, Row));
    }

    [Fact]
    public void Decrypt_MovedToAnotherRowNamespaceOrProject_Throws()
    {
        var ring = EncryptionKeyRing.NewRing();
        var protector = new ContentProtector(ring, "project-1");
        var ciphertext = protector.Encrypt("\"hello\"", Row);

        Assert.Throws<ContentDecryptionException>(() =>
            protector.Decrypt(ciphertext, RowIdentity.MessageContent("ns-1", "dialogue-1", "message-2")));
        Assert.Throws<ContentDecryptionException>(() =>
            protector.Decrypt(ciphertext, RowIdentity.MessageContent("ns-2", "dialogue-1", "message-1")));
        Assert.Throws<ContentDecryptionException>(() =>
            protector.Decrypt(ciphertext, RowIdentity.MemoryValue("ns-1", "dialogue-1")));
        Assert.Throws<ContentDecryptionException>(() =>
            new ContentProtector(ring, "project-2").Decrypt(ciphertext, Row));
    }

    [Fact]
    public void Decrypt_KeyNotInRing_ThrowsNamingTheKey()
    {
        var ciphertext = new ContentProtector(EncryptionKeyRing.NewRing().Rotate(), "p").Encrypt("\"x\"", Row);

        var ex = Assert.Throws<UnknownDataKeyException>(() =>
            new ContentProtector(EncryptionKeyRing.NewRing(), "p").Decrypt(ciphertext, Row));
        Assert.Contains("data key 2", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decrypt_KeyUnknown_RereadsTheRingOnce_ThenDecryptsWithTheNewKey()
    {
        var lagging = EncryptionKeyRing.NewRing();
        var (updated, rereads) = (EncryptionKeyRing.Parse(lagging.Rotate().ToJson(), "t"), 0);
        var current = lagging;
        var ciphertext = new ContentProtector(updated, "p").Encrypt("\"x\"", Row);
        var protector = new ContentProtector(() => current, "p", () => { rereads++; current = updated; });

        Assert.Equal("\"x\"", protector.DecryptString(ciphertext, Row));
        Assert.Equal(1, rereads);
    }

    [Fact]
    public void Decrypt_KeyStillUnknownAfterTheReread_ThrowsUnknownDataKeyNamingTheKey()
    {
        var ciphertext = new ContentProtector(EncryptionKeyRing.NewRing().Rotate(), "p").Encrypt("\"x\"", Row);
        var rereads = 0;

        var ex = Assert.Throws<UnknownDataKeyException>(() =>
            new ContentProtector(() => EncryptionKeyRing.NewRing(), "p", () => rereads++).Decrypt(ciphertext, Row));

        Assert.Equal(2u, ex.KeyId);
        Assert.Equal(1, rereads);
    }

    [Fact]
    public void TwoPhaseRotation_NewKeyDecryptsFirst_AndEncryptsOnlyOnceActivated()
    {
        var ring = EncryptionKeyRing.NewRing();

        var distributed = EncryptionKeyRing.Parse(ring.WithDecryptOnlyKey(out var id).ToJson(), "t");
        var activated = EncryptionKeyRing.Parse(distributed.Activate(id).ToJson(), "t");

        Assert.Equal((1u, 2u, 2), (distributed.ActiveId, id, distributed.KeyIds.Count));
        Assert.Equal(1u, ContentProtector.KeyIdOf(new ContentProtector(distributed, "p").Encrypt("\"x\"", Row)));
        var fresh = new ContentProtector(activated, "p").Encrypt("\"y\"", Row);
        Assert.Equal(2u, ContentProtector.KeyIdOf(fresh));
        Assert.Equal("\"y\"", new ContentProtector(distributed, "p").DecryptString(fresh, Row));
    }

    [Fact]
    public void Rotate_NewWritesUseNewKey_OldCiphertextStillDecrypts()
    {
        var ring = EncryptionKeyRing.NewRing();
        var old = new ContentProtector(ring, "p").Encrypt("\"before\"", Row);

        var rotated = EncryptionKeyRing.Parse(ring.Rotate().ToJson(), "test");
        var protector = new ContentProtector(rotated, "p");
        var fresh = protector.Encrypt("\"after\"", Row);

        Assert.Equal(2u, rotated.ActiveId);
        Assert.Equal(2u, ContentProtector.KeyIdOf(fresh));
        Assert.Equal("\"before\"", protector.DecryptString(old, Row));
        Assert.Equal("\"after\"", protector.DecryptString(fresh, Row));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("""{"active":1,"keys":[]}""")]
    [InlineData("""{"active":2,"keys":[{"id":1,"key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}]}""")]
    [InlineData("""{"active":1,"keys":[{"id":1,"key":"c2hvcnQ="}]}""")]
    public void ParseKeyRing_Malformed_ClearError(string json)
    {
        var ex = Assert.Throws<InvalidOperationException>(() => EncryptionKeyRing.Parse(json, "the-source"));
        Assert.Contains("the-source", ex.Message, StringComparison.Ordinal);
    }
}
