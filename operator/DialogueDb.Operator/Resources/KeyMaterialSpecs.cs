using System.ComponentModel;
using System.ComponentModel.DataAnnotations;

namespace DialogueDb.Operator.Resources;

[ValidationRule("has(self.keySecretRef) == has(oldSelf.keySecretRef)", "keySecretRef can be set only when the project is created, and " +
    "never removed.")]
internal sealed class EncryptionSpec
{
    [Description("A Secret of the project's namespace holding the customer's key ring (bring your own key). Cannot change once set.")]
    [ValidationRule("self == oldSelf", "keySecretRef cannot change: content encrypted under it would become unreadable.")]
    public SecretKeyReference? KeySecretRef { get; set; }

    [Description("Raise to add a new generated key and make it the active one; older keys stay for decryption.")]
    [Range(0, int.MaxValue)]
    public int? Rotation { get; set; }
}

internal sealed class EventsSpec
{
    [Description("Raise to add a new event key: consumers get it first (open-only), events are sealed with it once every reader has it; " +
        "older keys stay.")]
    [Range(0, int.MaxValue)]
    public int? KeyRotation { get; set; }
}

internal sealed class TlsSpec
{
    [Description("A kubernetes.io/tls Secret of the project's namespace (tls.crt, tls.key and optionally ca.crt) to serve instead of " +
        "the generated certificate.")]
    public SecretKeyReference? SecretRef { get; set; }
}
