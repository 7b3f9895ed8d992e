using DialogueDb.Operator.Reconciliation;

namespace DialogueDb.Operator.Provisioning;

// Placeholder until the provisioning branch lands; replaced by its naming.
internal static class ProjectNames
{
    public static ProjectIdentity For(string ns, string name)
    {
        var id = $"{ns}.{name}";
        var db = "ddb_" + new string($"{ns}_{name}".Select(c => char.IsAsciiLetterOrDigit(c) ? c : '_').ToArray());
        return new ProjectIdentity(id, db, db + "_owner", db + "_api", db + "_maint", "ddb-" + id, $"ddb:{{{id}}}:");
    }
}
