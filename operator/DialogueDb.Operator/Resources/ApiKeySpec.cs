using System.ComponentModel;
using System.ComponentModel.DataAnnotations;

namespace DialogueDb.Operator.Resources;

internal sealed class ApiKeySpec
{
    [Description("Name of the key, unique in the project; also part of its Secret's name.")]
    [Required]
    [RegularExpression("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    [MaxLength(40)]
    public string? Name { get; set; }

    [Description("read-write (default) or read-only.")]
    [AllowedValues("read-write", "read-only")]
    public string? Scope { get; set; }

    [Description("Raise to issue a new key; the previous one stays valid for apiKeyGracePeriodSeconds.")]
    [Range(0, int.MaxValue)]
    public int? Rotation { get; set; }
}
