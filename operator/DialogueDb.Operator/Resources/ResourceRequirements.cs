using System.ComponentModel;

namespace DialogueDb.Operator.Resources;

internal sealed class ResourceRequirements
{
    [Description("Requested CPU and memory (quantities, e.g. cpu: 100m, memory: 256Mi).")]
    [IntOrString]
    public IDictionary<string, string>? Requests { get; set; }

    [Description("CPU and memory limits (quantities).")]
    [IntOrString]
    public IDictionary<string, string>? Limits { get; set; }
}
