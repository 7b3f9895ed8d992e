using DialogueDb.Service.Policy;

namespace DialogueDb.Service.Security;

/// <summary>
/// The project's API keys, by key id, from the project document; follows changes to the file (a key added or revoked
/// takes effect within about a second, without a restart).
/// </summary>
internal sealed class ApiKeyRing
{
    private readonly Func<ProjectDocument> _project;
    private readonly ApiKeyHasher _hasher;
    private volatile Indexed? _indexed;

    public ApiKeyRing(Func<ProjectDocument> project, ApiKeyHasher hasher)
    {
        _project = project;
        _hasher = hasher;
        ProjectId = project().ProjectId;
    }

    public ApiKeyRing(ProjectDocument project, ApiKeyHasher hasher)
        : this(() => project, hasher)
    {
    }

    /// <summary>Fixed for the life of the process: it is part of every ciphertext's associated data.</summary>
    public string ProjectId { get; }

    /// <summary>Stands in for the stored hash of an unknown key id (no key hashes to 32 zero bytes).</summary>
    private static readonly string UnknownKeyHash = Convert.ToBase64String(new byte[32]);

    public ApiKeyRecord? Verify(string presented)
    {
        var keyId = ApiKeyHasher.KeyIdOf(presented);
        if (keyId is null)
        {
            return null;
        }

        // A well-formed key is hashed and compared whether or not its id exists, so a wrong secret of a real key id and
        // an unknown id take the same work (the answer time does not tell which ids exist).
        var known = Index().TryGetValue(keyId, out var record);
        var matches = _hasher.Matches(presented, known ? record!.Hash : UnknownKeyHash);
        return known && matches ? record : null;
    }

    private Dictionary<string, ApiKeyRecord> Index()
    {
        var current = _project();
        var indexed = _indexed;
        if (indexed is null || !ReferenceEquals(indexed.Document, current))
        {
            indexed = new Indexed(current, current.ApiKeys.ToDictionary(k => k.Id, StringComparer.Ordinal));
            _indexed = indexed;
        }

        return indexed.ById;
    }

    private sealed record Indexed(ProjectDocument Document, Dictionary<string, ApiKeyRecord> ById);
}
