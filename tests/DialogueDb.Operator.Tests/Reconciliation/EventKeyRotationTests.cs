using System.Text;
using DialogueDb.Operator.Resources;
using DialogueDb.Service.Audit;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Time.Testing;
using static DialogueDb.Operator.Tests.Reconciliation.OperatorHarness;

namespace DialogueDb.Operator.Tests.Reconciliation;

/// <summary>
/// Two-phase rotation of the event key on the fake API server with fake time: consumers get the new key before the
/// pods seal with it, so a consumer holding the Secret of the first phase opens every event sealed after the second.
/// </summary>
public sealed class EventKeyRotationTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task RaisedKeyRotation_AddsAnOpenOnlyKeyFirst_ThenActivatesItAfterTheDelay_OlderKeysStay()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var harness = new OperatorHarness(time: time);
        await harness.CreateAsync("sealed");
        await harness.ReconciledAsync("sealed", "Progressing", "True");
        var before = Ring(harness);
        var firstKey = before.ActiveKeyId;
        var sealedBefore = Seal(before, "evt-before");

        await RotateAsync(harness, 1);

        await EventuallyAsync(() => Ring(harness).KeyIds.Count == 2, "the new event key is distributed");
        var consumerCopy = Ring(harness);
        Assert.Equal(firstKey, consumerCopy.ActiveKeyId); // the pods still seal with the old key
        var pending = consumerCopy.KeyIds.Single(id => id != firstKey);
        await EventuallyAsync(() => HasEvent(harness, "EventKeyAdded"), "the EventKeyAdded Event is recorded"); // recorded after the write

        time.Advance(TimeSpan.FromSeconds(harness.Options.EncryptionKeyActivationSeconds - 1));
        await ResyncAsync(harness);
        Assert.Equal(firstKey, Ring(harness).ActiveKeyId);

        time.Advance(TimeSpan.FromSeconds(2));

        await EventuallyAsync(() => Ring(harness).ActiveKeyId == pending, "the new event key seals new events after the delay");
        var producer = Ring(harness);
        Assert.Equal(2, producer.KeyIds.Count);
        await EventuallyAsync(() => HasEvent(harness, "EventKeyRotated"), "the EventKeyRotated Event is recorded");
        var sealedAfter = Seal(producer, "evt-after");
        Assert.Contains(pending, Encoding.UTF8.GetString(sealedAfter));
        // The consumer that read the Secret during the first phase opens events sealed in the second, and older ones.
        Assert.Contains("\"text\":\"evt-after\"", Encoding.UTF8.GetString(EventSealer.Open(sealedAfter, consumerCopy)!));
        Assert.Contains("\"text\":\"evt-before\"", Encoding.UTF8.GetString(EventSealer.Open(sealedBefore, producer)!));
        // A consumer that never got the new key could not: the phases are what makes the difference.
        Assert.Null(EventSealer.Open(sealedAfter, before));

        // Nothing more happens until the counter is raised again.
        var settled = harness.Secret("sealed-events-key")!.Metadata.ResourceVersion;
        time.Advance(TimeSpan.FromSeconds(harness.Options.EncryptionKeyActivationSeconds * 2));
        await ResyncAsync(harness);
        Assert.Equal(settled, harness.Secret("sealed-events-key")!.Metadata.ResourceVersion);
    }

    /// <summary>One resync of every project, waited for by its count of finished reconciles.</summary>
    private static async Task ResyncAsync(OperatorHarness harness)
    {
        var before = harness.Controller.Reconciles;
        harness.Controller.Resync();
        await EventuallyAsync(() => harness.Controller.Reconciles > before && harness.Controller.QueueLength == 0, "the resync is done");
    }

    private static bool HasEvent(OperatorHarness harness, string reason) =>
        harness.Api.List("v1", "Event", Namespace).Any(e => e["reason"]?.GetValue<string>() == reason);

    private static EventKeyRing Ring(OperatorHarness harness) =>
        EventKeyRing.Parse(Encoding.UTF8.GetString(harness.Secret("sealed-events-key")!.Data["events-key.json"]), "test");

    private static byte[] Seal(EventKeyRing ring, string text) => new EventSealer(() => ring).Seal(Encoding.UTF8.GetBytes(
        $$$"""{"eventId":"{{{Guid.NewGuid()}}}","type":"message.created","item":{"text":"{{{text}}}"}}"""));

    private static Task<object> RotateAsync(OperatorHarness harness, int rotation) =>
        harness.Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch(new { spec = new { events = new { keyRotation = rotation } } }, V1Patch.PatchType.MergePatch),
            DialogueProject.Group, DialogueProject.Version, Namespace, DialogueProject.Plural, "sealed", cancellationToken: Ct);
}
