using System.Text.RegularExpressions;
using DialogueDb.Operator.Kubernetes;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace DialogueDb.Operator.Tests.Chart;

/// <summary>
/// The chart grants exactly what the operator's code uses (OperatorPermissions.Rules): nothing missing, which would
/// fail at run time with 403s, and nothing extra, which would be privilege nobody asked for.
/// </summary>
public sealed partial class ChartRbacTests
{
    private const string RulesFile = "templates/_rbac.tpl";
    private const string RbacFile = "templates/rbac.yaml";

    [Fact]
    public void ProjectRules_AreExactlyTheOperatorsNamespacedPermissions()
    {
        var chart = Normalize(RulesOf("dialoguedb-operator.projectRules"));
        var code = Normalize(OperatorPermissions.Rules.Where(r => !r.OperatorNamespaceOnly));

        Assert.Equal(code, chart);
    }

    [Fact]
    public void LeaderElectionRules_AreExactlyTheOperatorNamespaceOnlyPermissions()
    {
        var chart = Normalize(RulesOf("dialoguedb-operator.leaderElectionRules"));
        var code = Normalize(OperatorPermissions.Rules.Where(r => r.OperatorNamespaceOnly));

        Assert.Equal(code, chart);
        Assert.Contains(chart, r => r.Resource == "leases");
    }

    [Fact]
    public void RbacTemplates_HaveNoWildcard_AndNoInlineRules()
    {
        var rbac = ChartFiles.Read(RbacFile);
        var rules = ChartFiles.Read(RulesFile);

        Assert.DoesNotContain("*\"", rules + rbac, StringComparison.Ordinal);
        Assert.DoesNotMatch(@"(?m)^\s*-?\s*(verbs|resources|apiGroups)\s*:.*\*", rules + rbac);
        // Every rules: block of rbac.yaml is one include of a checked rule list, never hand-written rules.
        var lines = rbac.Split('\n');
        var ruleBlocks = lines.Select((l, i) => (l, i)).Where(x => x.l == "rules:").ToList();
        Assert.Equal(3, ruleBlocks.Count);
        Assert.All(ruleBlocks, x => Assert.Matches(@"^\{\{- include ""dialoguedb-operator\.(projectRules|leaderElectionRules)"" \$?\.? ?\}\}$", lines[x.i + 1]));
    }

    [Fact]
    public void LeaseRules_AreGrantedOnlyByARoleInTheReleaseNamespace()
    {
        var documents = ChartFiles.Read(RbacFile).Split("\n---\n");

        var withLeases = documents.Where(d => d.Contains("leaderElectionRules", StringComparison.Ordinal)).ToList();
        var withProjects = documents.Where(d => d.Contains("projectRules", StringComparison.Ordinal)).ToList();

        var lease = Assert.Single(withLeases);
        Assert.Contains("kind: Role\n", lease, StringComparison.Ordinal);
        Assert.Contains("namespace: {{ .Release.Namespace }}", lease, StringComparison.Ordinal);
        // Cluster-wide mode uses a ClusterRole; watchNamespaces mode a Role in each watched namespace instead.
        Assert.Equal(2, withProjects.Count);
        Assert.Contains(withProjects, d => d.Contains("kind: ClusterRole\n", StringComparison.Ordinal));
        Assert.Contains(withProjects, d => d.Contains("kind: Role\n", StringComparison.Ordinal) && d.Contains("namespace: {{ . }}", StringComparison.Ordinal));
    }

    private static List<YamlRule> RulesOf(string name)
    {
        var text = ChartFiles.Read(RulesFile);
        var match = Regex.Match(text, $@"\{{\{{- define ""{Regex.Escape(name)}"" \}}\}}\n(?<body>.*?)\{{\{{- end \}}\}}", RegexOptions.Singleline);
        Assert.True(match.Success, $"{name} is not defined in {RulesFile}.");
        var deserializer = new DeserializerBuilder().WithNamingConvention(CamelCaseNamingConvention.Instance).Build();
        return deserializer.Deserialize<List<YamlRule>>(match.Groups["body"].Value);
    }

    /// <summary>One (group, resource) → sorted verbs per entry; a group or resource listed twice is kept twice, so duplicates show.</summary>
    private static List<FlatRule> Normalize(IEnumerable<YamlRule> rules) =>
        rules.SelectMany(r => r.ApiGroups.SelectMany(g => r.Resources.Select(res => new FlatRule(g, res, string.Join(",", r.Verbs.Order(StringComparer.Ordinal))))))
            .OrderBy(r => r.ApiGroup, StringComparer.Ordinal).ThenBy(r => r.Resource, StringComparer.Ordinal).ToList();

    private static List<FlatRule> Normalize(IEnumerable<PermissionRule> rules) =>
        Normalize(rules.Select(r => new YamlRule { ApiGroups = [r.ApiGroup], Resources = [r.Resource], Verbs = [.. r.Verbs] }));

    private sealed record FlatRule(string ApiGroup, string Resource, string Verbs);

    private sealed class YamlRule
    {
        public List<string> ApiGroups { get; set; } = [];
        public List<string> Resources { get; set; } = [];
        public List<string> Verbs { get; set; } = [];
    }
}
