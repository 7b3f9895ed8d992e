using DialogueDb.Service.Search;
using DialogueDb.Service.Security;

namespace DialogueDb.Service.Tests.Search;

/// <summary>
/// An index names how it was built; vectors of another model, length or embeddings endpoint are never compared with
/// this process's, so changing the endpoint's URL or model name rebuilds the index as changing the model does.
/// </summary>
public sealed class SearchIndexIdentityTests
{
    private static readonly BlindTokenKey Tokens = new(new ContentProtector(EncryptionKeyRing.NewRing(), "identity"), "identity");

    private static string IdentityOf(string url, string model, int dimensions = 32) =>
        SearchIndexIdentity.Of(new EndpointEmbedder(new HttpClient(),
            new EndpointEmbedderSettings(new Uri(url), model, dimensions, null, 16, TimeSpan.FromSeconds(10)), TimeProvider.System), Tokens);

    [Fact]
    public void Identity_EndpointUrlOrModelChanged_OtherVectors()
    {
        var identity = IdentityOf("https://embed-a.example/v1", "text-embedding-3-small");

        Assert.False(SearchIndexIdentity.SameVectors(IdentityOf("https://embed-b.example/v1", "text-embedding-3-small"), identity));
        Assert.False(SearchIndexIdentity.SameVectors(IdentityOf("https://embed-a.example/v2", "text-embedding-3-small"), identity));
        Assert.False(SearchIndexIdentity.SameVectors(IdentityOf("https://embed-a.example/v1", "text-embedding-3-large"), identity));
        Assert.False(SearchIndexIdentity.SameVectors(IdentityOf("https://embed-a.example/v1", "text-embedding-3-small", 64), identity));
        Assert.False(SearchIndexIdentity.SameVectors(
            SearchIndexIdentity.Of(new MiniLmEmbedder(), Tokens), identity));
    }

    [Fact]
    public void Identity_SameEndpointWrittenDifferently_SameVectors()
    {
        var identity = IdentityOf("https://embed-a.example/v1", "BAAI/bge-small-en-v1.5");

        Assert.Equal(identity, IdentityOf("https://EMBED-A.example/v1/", "BAAI/bge-small-en-v1.5"));
        Assert.True(SearchIndexIdentity.SameVectors(identity, identity));
        // Credentials in the URL are neither stored nor part of the identity.
        var withCredentials = IdentityOf("https://user:secret@embed-a.example/v1", "BAAI/bge-small-en-v1.5");
        Assert.Equal(identity, withCredentials);
        Assert.DoesNotContain("secret", withCredentials, StringComparison.Ordinal);
        Assert.DoesNotContain("embed-a.example", withCredentials, StringComparison.Ordinal);
    }
}
