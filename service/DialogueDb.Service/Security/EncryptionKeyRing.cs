using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace DialogueDb.Service.Security;

/// <summary>
/// The project's data keys: several AES-256 keys by id, one active for new writes, the others decrypt-only.
/// Stored as JSON (a file, an environment variable, or a Kubernetes Secret the customer may supply):
/// <c>{"active": 2, "keys": [{"id": 1, "key": "&lt;base64 32 bytes&gt;"}, {"id": 2, "key": "..."}]}</c>.
/// </summary>
internal sealed class EncryptionKeyRing
{
    private static readonly JsonSerializerOptions FileJson = new() { WriteIndented = true };

    private readonly Dictionary<uint, byte[]> _keys;

    private EncryptionKeyRing(uint activeId, Dictionary<uint, byte[]> keys)
    {
        ActiveId = activeId;
        _keys = keys;
    }

    public uint ActiveId { get; }

    public byte[] ActiveKey => _keys[ActiveId];

    public IReadOnlyCollection<uint> KeyIds => _keys.Keys;

    public bool TryGet(uint id, out byte[] key) => _keys.TryGetValue(id, out key!);

    public static EncryptionKeyRing NewRing() => new(1, new() { [1] = RandomNumberGenerator.GetBytes(32) });

    /// <summary>A ring with one more key, which becomes active; the old keys stay for decryption.</summary>
    public EncryptionKeyRing Rotate()
    {
        var ring = WithDecryptOnlyKey(out var next);
        return ring.Activate(next);
    }

    /// <summary>
    /// The first phase of a rotation across replicas: one more key, for decryption only (the active key stays). Once
    /// every replica has read this ring, <see cref="Activate"/> makes the new key the one new writes use.
    /// </summary>
    public EncryptionKeyRing WithDecryptOnlyKey(out uint id)
    {
        id = _keys.Keys.Max() + 1;
        return new EncryptionKeyRing(ActiveId, new Dictionary<uint, byte[]>(_keys) { [id] = RandomNumberGenerator.GetBytes(32) });
    }

    /// <summary>The second phase: the ring with <paramref name="id"/> (already in it) as the active key.</summary>
    public EncryptionKeyRing Activate(uint id) => _keys.ContainsKey(id)
        ? new EncryptionKeyRing(id, _keys)
        : throw new InvalidOperationException($"Encryption key {id} is not in the key ring.");

    public static EncryptionKeyRing Parse(string json, string source)
    {
        KeyRingDocument? document;
        try
        {
            document = JsonSerializer.Deserialize<KeyRingDocument>(json, FileJson);
        }
        catch (JsonException ex)
        {
            throw new InvalidOperationException($"The encryption key ring from {source} is not valid JSON (line {ex.LineNumber}).", ex);
        }

        if (document?.Keys is not { Count: > 0 })
        {
            throw new InvalidOperationException($"The encryption key ring from {source} has no keys.");
        }

        var keys = new Dictionary<uint, byte[]>();
        foreach (var entry in document.Keys)
        {
            byte[] material;
            try
            {
                material = Convert.FromBase64String(entry.Key ?? "");
            }
            catch (FormatException)
            {
                throw new InvalidOperationException($"Encryption key {entry.Id} from {source} is not base64.");
            }

            if (material.Length != 32)
            {
                throw new InvalidOperationException($"Encryption key {entry.Id} from {source} must be 32 bytes (AES-256), not {material.Length}.");
            }

            if (!keys.TryAdd(entry.Id, material))
            {
                throw new InvalidOperationException($"Encryption key id {entry.Id} appears twice in {source}.");
            }
        }

        if (!keys.ContainsKey(document.Active))
        {
            throw new InvalidOperationException($"The active encryption key {document.Active} is not in the key ring from {source}.");
        }

        return new EncryptionKeyRing(document.Active, keys);
    }

    public string ToJson() => JsonSerializer.Serialize(
        new KeyRingDocument(ActiveId, [.. _keys.OrderBy(k => k.Key).Select(k => new KeyEntry(k.Key, Convert.ToBase64String(k.Value)))]),
        FileJson);

    private sealed record KeyRingDocument(
        [property: JsonPropertyName("active")] uint Active,
        [property: JsonPropertyName("keys")] List<KeyEntry>? Keys);

    private sealed record KeyEntry(
        [property: JsonPropertyName("id")] uint Id,
        [property: JsonPropertyName("key")] string? Key);
}
