using System.Globalization;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Security;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>The two key rings the operator rotates in two phases: the data keys and the event key.</summary>
internal static class KeyRingFormats
{
    /// <summary>The AES-256-GCM data keys of <c>&lt;project&gt;-encryption</c> (numeric ids).</summary>
    public static readonly KeyRingFormat DataKeys = new(
        "keys.json",
        (json, source) =>
        {
            var ring = EncryptionKeyRing.Parse(json, source).WithDecryptOnlyKey(out var id);
            return (ring.ToJson(), id.ToString(CultureInfo.InvariantCulture));
        },
        (json, source, id) => EncryptionKeyRing.Parse(json, source).Activate(uint.Parse(id, CultureInfo.InvariantCulture)).ToJson(),
        "EncryptionKeyAdded",
        (id, rotation, at) => $"Data key {id} was added for decryption (rotation {rotation}); it becomes active at {at}.",
        "EncryptionKeyRotated",
        id => $"Data key {id} is now active for new writes; older keys remain for decryption.");

    /// <summary>The keys that seal published audit events, in <c>&lt;project&gt;-events-key</c> (text ids).</summary>
    public static KeyRingFormat EventKeys(TimeProvider time) => new(
        DesiredState.EventsKeyFile,
        (json, source) =>
        {
            var ring = EventKeyRing.Parse(json, source).WithOpenOnlyKey(time, out var id);
            return (ring.ToJson(), id);
        },
        (json, source, id) => EventKeyRing.Parse(json, source).Activate(id).ToJson(),
        "EventKeyAdded",
        (id, rotation, at) => $"Event key {id} was added for consumers to open events with (key rotation {rotation}); "
            + $"events are sealed with it from {at}.",
        "EventKeyRotated",
        id => $"Event key {id} now seals new events; older keys remain so consumers can open older events.");
}
