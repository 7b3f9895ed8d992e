using System.Security.Cryptography;
using System.Text.Json;
using DialogueDb.Service.Hosting;

namespace DialogueDb.Service.Audit;

/// <summary>
/// The project's event keys: AES-256 keys that seal the items of published audit events, separate from the data keys so
/// that event consumers never hold a key to the database. One key is active (new events); older ones stay in the file
/// so consumers can still open events sealed before a rotation. File form (the operator's Secret
/// <c>&lt;project&gt;-events-key</c>, or DATA_DIR/secrets/events-key.json embedded):
/// <c>{"activeKeyId":"ev-…","keys":{"ev-…":"&lt;base64 of 32 bytes&gt;"}}</c>.
/// </summary>
internal sealed class EventKeyRing
{
    private readonly Dictionary<string, byte[]> _keys;

    private EventKeyRing(string activeKeyId, Dictionary<string, byte[]> keys)
    {
        ActiveKeyId = activeKeyId;
        _keys = keys;
    }

    public string ActiveKeyId { get; }

    public byte[] ActiveKey => _keys[ActiveKeyId];

    public byte[]? Find(string keyId) => _keys.GetValueOrDefault(keyId);

    public static EventKeyRing New(TimeProvider time)
    {
        var id = "ev-" + time.GetUtcNow().ToString("yyyyMMdd", System.Globalization.CultureInfo.InvariantCulture) + "-" +
                 Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        return new EventKeyRing(id, new Dictionary<string, byte[]>(StringComparer.Ordinal) { [id] = RandomNumberGenerator.GetBytes(32) });
    }

    public IReadOnlyCollection<string> KeyIds => _keys.Keys;

    /// <summary>A ring with a new active key; the current keys stay for opening older events.</summary>
    public EventKeyRing Rotate(TimeProvider time)
    {
        var ring = WithOpenOnlyKey(time, out var id);
        return ring.Activate(id);
    }

    /// <summary>
    /// The first phase of a two-phase rotation: a new key that consumers can open events with, while producers keep
    /// sealing with the current active key until <see cref="Activate"/> (so no consumer meets an event it cannot open).
    /// </summary>
    public EventKeyRing WithOpenOnlyKey(TimeProvider time, out string id)
    {
        var fresh = New(time);
        id = fresh.ActiveKeyId;
        var keys = new Dictionary<string, byte[]>(_keys, StringComparer.Ordinal) { [id] = fresh.ActiveKey };
        return new EventKeyRing(ActiveKeyId, keys);
    }

    /// <summary>The second phase: <paramref name="id"/>, already in the ring, seals new events.</summary>
    public EventKeyRing Activate(string id) => _keys.ContainsKey(id)
        ? new EventKeyRing(id, _keys)
        : throw new InvalidOperationException($"Event key {id} is not in the ring.");

    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("activeKeyId", ActiveKeyId);
            w.WriteStartObject("keys");
            foreach (var (id, key) in _keys)
            {
                w.WriteString(id, Convert.ToBase64String(key));
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    /// <summary>Parses the file form; a malformed file is an error naming <paramref name="source"/>, never its contents.</summary>
    public static EventKeyRing Parse(string json, string source)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            var active = root.GetProperty("activeKeyId").GetString() ?? "";
            var keys = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            foreach (var property in root.GetProperty("keys").EnumerateObject())
            {
                var key = Convert.FromBase64String(property.Value.GetString() ?? "");
                if (key.Length != 32)
                {
                    throw new FormatException("an event key is not 32 bytes");
                }

                keys[property.Name] = key;
            }

            if (!keys.ContainsKey(active))
            {
                throw new FormatException("activeKeyId names no key of the file");
            }

            return new EventKeyRing(active, keys);
        }
        catch (Exception ex) when (ex is JsonException or FormatException or KeyNotFoundException or InvalidOperationException)
        {
            throw new InvalidOperationException($"The event key file {source} is malformed: {ex.GetType().Name}.", ex);
        }
    }

    /// <summary>
    /// The ring of the events key file. Embedded mode creates one on first use (mode 0600); a server never invents
    /// one (consumers of every replica must open every event): a missing file is a FileNotFoundException naming it.
    /// </summary>
    public static EventKeyRing Load(ServiceOptions options, TimeProvider time)
    {
        var path = options.EventsKeyPath;
        if (File.Exists(path))
        {
            return Parse(File.ReadAllText(path), path);
        }

        if (options.EventsKeyFile is not null || options.UsesPostgres)
        {
            throw new FileNotFoundException(
                $"No event key: {path} does not exist. Set {ServiceOptions.EnvironmentPrefix}EVENTS_KEY_FILE to the mounted " +
                "<project>-events-key Secret (the operator creates it), or create one with `dialoguedb events rotate-key --file <path>`.", path);
        }

        var ring = New(time);
        TlsCertificates.WriteSecret(path, ring.ToJson());
        return ring;
    }
}
