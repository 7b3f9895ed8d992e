using System.ComponentModel;
using System.ComponentModel.DataAnnotations;

namespace DialogueDb.Operator.Resources;

internal sealed class ProjectCondition
{
    [Description("Ready, Progressing or Degraded.")]
    [Required]
    public string? Type { get; set; }

    [Description("True, False or Unknown.")]
    [Required]
    [AllowedValues("True", "False", "Unknown")]
    public string? Status { get; set; }

    [Description("A CamelCase reason code.")]
    public string? Reason { get; set; }

    [Description("What happened, for humans.")]
    public string? Message { get; set; }

    [Description("The generation this condition describes.")]
    public long? ObservedGeneration { get; set; }

    [Description("When the status last changed.")]
    [Format("date-time")]
    public DateTime? LastTransitionTime { get; set; }
}
