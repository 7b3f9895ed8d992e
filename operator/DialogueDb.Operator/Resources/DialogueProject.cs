using System.ComponentModel;
using System.Text.Json.Serialization;
using k8s;
using k8s.Models;

namespace DialogueDb.Operator.Resources;

/// <summary>
/// One tenant project: the operator turns it into an isolated deployment of the DialogueDB service in the same
/// namespace, plus a database and a Redis user on the shared servers. Every field is nullable so that server-side
/// apply of the status never claims spec fields (and the reverse).
/// </summary>
[Description("A DialogueDB project: an isolated deployment of the DialogueDB API for one tenant, with its own database, Redis user, " +
    "keys and plan.")]
[PrinterColumn("Plan", "string", ".status.effective.plan")]
[PrinterColumn("Ready", "string", ".status.conditions[?(@.type==\"Ready\")].status")]
[PrinterColumn("Replicas", "integer", ".status.readyReplicas", Description = "Pods of the API that are ready")]
[PrinterColumn("Usage", "string", ".status.usage.highest",
    Description = "The highest share of any plan limit used (this month's dialogues, messages and requests, stored memories)")]
[PrinterColumn("Endpoint", "string", ".status.endpoint")]
[PrinterColumn("Age", "date", ".metadata.creationTimestamp")]
internal sealed class DialogueProject : IKubernetesObject<V1ObjectMeta>, ISpec<DialogueProjectSpec>, IStatus<DialogueProjectStatus?>
{
    public const string Group = "dialoguedb.io";
    public const string Version = "v1alpha1";
    public const string KindName = "DialogueProject";
    public const string Plural = "dialogueprojects";
    public const string Singular = "dialogueproject";
    public const string ShortName = "dp";
    public const string GroupVersion = Group + "/" + Version;

    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = GroupVersion;

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = KindName;

    [JsonPropertyName("metadata")]
    public V1ObjectMeta Metadata { get; set; } = new();

    [JsonPropertyName("spec")]
    [Description("What the platform team wants for this project.")]
    public DialogueProjectSpec Spec { get; set; } = new();

    [JsonPropertyName("status")]
    [Description("What the operator observed and did; written only by the operator.")]
    public DialogueProjectStatus? Status { get; set; }
}

internal sealed class DialogueProjectList : IKubernetesObject<V1ListMeta>, IItems<DialogueProject>
{
    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = DialogueProject.GroupVersion;

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = DialogueProject.KindName + "List";

    [JsonPropertyName("metadata")]
    public V1ListMeta Metadata { get; set; } = new();

    [JsonPropertyName("items")]
    public IList<DialogueProject> Items { get; set; } = [];
}
