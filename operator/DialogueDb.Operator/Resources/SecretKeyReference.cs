using System.ComponentModel;
using System.ComponentModel.DataAnnotations;

namespace DialogueDb.Operator.Resources;

internal sealed class SecretKeyReference
{
    [Description("Name of the Secret, in the project's namespace.")]
    [Required]
    [RegularExpression("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")]
    [MaxLength(253)]
    public string? Name { get; set; }

    [Description("Key in the Secret's data. Absent: the kind's usual key (uri, keys.json).")]
    [MaxLength(253)]
    public string? Key { get; set; }
}
