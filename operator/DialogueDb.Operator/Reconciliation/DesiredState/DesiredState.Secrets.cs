using System.Text;
using DialogueDb.Operator.Resources;
using k8s.Models;
using static DialogueDb.Operator.Reconciliation.ProjectNaming;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>The Secrets the desired state writes: the policy the pods watch, the event key, and the shape of every generated one.</summary>
internal static partial class DesiredState
{
    public static V1Secret PolicySecret(ProjectInputs inputs) =>
        Secret(inputs.Project, Policy(
            inputs.Project.Metadata.Name), "policy", new() { ["project.json"] = Encoding.UTF8.GetBytes(inputs.PolicyJson) });

    /// <summary>A Secret of the project, owned by it and labelled like its other children.</summary>
    public static V1Secret Secret(
        DialogueProject project, string name, string component, Dictionary<string, byte[]> data, string type = "Opaque") => new()
    {
        ApiVersion = "v1",
        Kind = "Secret",
        Metadata = Meta(project, name, component),
        Type = type,
        Data = data,
    };

    /// <summary>The key of the event key Secret the pods mount and event consumers read.</summary>
    public const string EventsKeyFile = "events-key.json";

    /// <summary>
    /// The Secret <c>&lt;project&gt;-events-key</c> holding the key that seals published audit events (see the
    /// service's README): created once with a generated key (<c>dialoguedb events rotate-key</c> writes the same form),
    /// never overwritten; consumers of the event stream are given read access to it.
    /// </summary>
    public static V1Secret EventsKeySecret(DialogueProject project, string eventKeyJson) =>
        Secret(project, EventsKeySecretName(project.Metadata.Name), "events", new Dictionary<string, byte[]>
        {
            [EventsKeyFile] = Encoding.UTF8.GetBytes(eventKeyJson),
        });

    public static string EventsKeySecretName(string project) => $"{project}-events-key";
}
