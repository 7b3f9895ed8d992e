using System.ComponentModel;

namespace DialogueDb.Operator.Resources;

[ValidationRule("has(self.secretRef) == has(oldSelf.secretRef)", "secretRef can be set only when the project is created, and never " +
    "removed.")]
internal sealed class ConnectionSpec
{
    [Description("A Secret of the project's namespace holding the customer's own connection string. Absent: managed by the operator.")]
    [ValidationRule("self == oldSelf", "secretRef cannot change: the data lives behind it.")]
    public SecretKeyReference? SecretRef { get; set; }
}
