using System.Text;

namespace DialogueDb.Service.Audit;

/// <summary>
/// What `dialoguedb events tail` prints: each event with its item opened when the event key is at hand, else as it
/// was published (sealed), saying once per key id which key is missing.
/// </summary>
internal sealed class SealedEventReader(EventKeyRing? ring, TextWriter notes)
{
    private readonly HashSet<string> _reported = new(StringComparer.Ordinal);

    /// <summary>Tells how items will be printed; <paramref name="keyPath"/> is where the key was looked for.</summary>
    public static SealedEventReader Open(string keyPath, TextWriter notes)
    {
        if (!File.Exists(keyPath))
        {
            notes.WriteLine($"No event key at {keyPath}: items are printed sealed (set DIALOGUEDB_EVENTS_KEY_FILE to open them).");
            return new SealedEventReader(null, notes);
        }

        notes.WriteLine($"Opening sealed items with the event key {keyPath}.");
        return new SealedEventReader(EventKeyRing.Parse(File.ReadAllText(keyPath), keyPath), notes);
    }

    public string Format(string eventJson)
    {
        if (ring is null)
        {
            return eventJson;
        }

        var opened = EventSealer.Open(Encoding.UTF8.GetBytes(eventJson), ring);
        if (opened is not null)
        {
            return Encoding.UTF8.GetString(opened);
        }

        var keyId = System.Text.Json.JsonDocument.Parse(eventJson).RootElement.GetProperty("keyId").GetString() ?? "";
        if (_reported.Add(keyId))
        {
            notes.WriteLine($"Events sealed with key {keyId} do not open with this key file (key missing or event altered): printed sealed.");
        }

        return eventJson;
    }
}
