using System.Text;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Security;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Hosting;

/// <summary>
/// <c>dialoguedb events rotate-key</c> and <c>dialoguedb encryption rotate</c> through the real command line: one step
/// by default, or the operator's two phases (<c>--add-only</c>, later <c>--activate ID</c>) so that a reader holding
/// the file of the first phase opens everything written after the second.
/// </summary>
public sealed class KeyRotationCommandTests : IDisposable
{
    private readonly TestFolder _folder = new("rotate-");

    private static int Run(params string[] args) => Cli.Build().Parse(args).Invoke();

    [Fact]
    public void EventsRotateKey_AddOnlyThenActivate_AConsumerWithTheFirstPhaseFileOpensEventsSealedAfterTheSecond()
    {
        var file = Path.Combine(_folder.Path, "events-key.json");
        Assert.Equal(0, Run("events", "rotate-key", "--file", file));
        var original = EventRing(file);
        var before = Seal(original, "before");

        Assert.Equal(0, Run("events", "rotate-key", "--file", file, "--add-only"));
        var consumerCopy = EventRing(file);
        Assert.Equal(original.ActiveKeyId, consumerCopy.ActiveKeyId); // still sealing with the old key
        var added = Assert.Single(consumerCopy.KeyIds, id => id != original.ActiveKeyId);

        Assert.Equal(0, Run("events", "rotate-key", "--file", file, "--activate", added));
        var producer = EventRing(file);
        Assert.Equal(added, producer.ActiveKeyId);
        Assert.Equal(2, producer.KeyIds.Count);
        var after = Seal(producer, "after");
        Assert.Contains("\"text\":\"after\"", Encoding.UTF8.GetString(EventSealer.Open(after, consumerCopy)!), StringComparison.Ordinal);
        Assert.Contains("\"text\":\"before\"", Encoding.UTF8.GetString(EventSealer.Open(before, producer)!), StringComparison.Ordinal);
        Assert.Null(EventSealer.Open(after, original)); // what the phases protect against

        // Bad input is refused with a non-zero code and leaves the file as it was.
        var settled = File.ReadAllText(file);
        Assert.Equal(1, Run("events", "rotate-key", "--file", file, "--activate", "no-such-key"));
        Assert.Equal(2, Run("events", "rotate-key", "--file", file, "--add-only", "--activate", added));
        Assert.Equal(settled, File.ReadAllText(file));

        // Without options it is still one step: a new active key, the older ones kept.
        Assert.Equal(0, Run("events", "rotate-key", "--file", file));
        var rotated = EventRing(file);
        Assert.Equal(3, rotated.KeyIds.Count);
        Assert.DoesNotContain(rotated.ActiveKeyId, producer.KeyIds);
    }

    [Fact]
    public void EncryptionRotate_AddOnlyThenActivate_AReplicaWithTheFirstPhaseFileDecryptsWhatIsWrittenAfterTheSecond()
    {
        var file = Path.Combine(_folder.Path, "keys.json");
        Assert.Equal(0, Run("encryption", "rotate", "--file", file));
        Assert.Equal(0, Run("encryption", "rotate", "--file", file, "--add-only"));
        var lagging = new ContentProtector(DataRing(file), "p1");
        Assert.Equal(1u, lagging.Ring.ActiveId);
        Assert.Equal([1u, 2u], lagging.Ring.KeyIds.Order());

        Assert.Equal(1, Run("encryption", "rotate", "--file", file, "--activate", "7"));
        Assert.Equal(0, Run("encryption", "rotate", "--file", file, "--activate", "2"));
        var updated = new ContentProtector(DataRing(file), "p1");
        Assert.Equal(2u, updated.Ring.ActiveId);
        var row = RowIdentity.MessageContent("ns", "d1", "m1");
        var ciphertext = updated.Encrypt("written under key 2", row);
        Assert.Equal("written under key 2", Encoding.UTF8.GetString(lagging.Decrypt(ciphertext, row)));
        Assert.Equal(2, Run("encryption", "rotate", "--file", file, "--add-only", "--activate", "2"));
        Assert.Equal(2u, DataRing(file).ActiveId);
    }

    private static EventKeyRing EventRing(string file) => EventKeyRing.Parse(File.ReadAllText(file), file);

    private static EncryptionKeyRing DataRing(string file) => EncryptionKeyRing.Parse(File.ReadAllText(file), file);

    private static byte[] Seal(EventKeyRing ring, string text) => new EventSealer(() => ring).Seal(Encoding.UTF8.GetBytes(
        $$$"""{"eventId":"{{{Guid.NewGuid()}}}","type":"message.created","item":{"text":"{{{text}}}"}}"""));

    public void Dispose() => _folder.Dispose();
}
