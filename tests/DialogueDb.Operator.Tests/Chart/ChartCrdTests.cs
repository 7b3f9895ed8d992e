using k8s;
using k8s.Models;

namespace DialogueDb.Operator.Tests.Chart;

/// <summary>The chart ships the repository's CRD byte for byte, behind crds.install, with the keep annotation.</summary>
public sealed class ChartCrdTests
{
    private const string FileName = "dialogueprojects.dialoguedb.io.yaml";
    private const string Template = "templates/crds/dialogueprojects.yaml";

    [Fact]
    public void ChartCrdCopy_IsByteIdenticalToCrdsFolder()
    {
        var source = File.ReadAllBytes(Path.Combine(RepositoryRoot.Path, "crds", FileName));
        var copy = File.ReadAllBytes(Path.Combine(ChartFiles.ChartDir, "files", "crds", FileName));

        // On drift: make crds (regenerates crds/ from the C# types and copies it into the chart).
        Assert.Equal(source, copy);
    }

    [Fact]
    public void CrdTemplate_IncludesTheCopy_BehindCrdsInstall_WithTheKeepAnnotation()
    {
        var template = ChartFiles.Read(Template);
        var lines = template.Split('\n').Where(l => !l.TrimStart().StartsWith('*') && l.Length > 0).ToList();

        Assert.Contains("{{- if .Values.crds.install }}", lines);
        Assert.Contains($".Files.Get \"files/crds/{FileName}\"", template, StringComparison.Ordinal);
        Assert.Contains("replace \"\\nmetadata:\\n\" \"\\nmetadata:\\n  annotations:\\n    helm.sh/resource-policy: keep\\n\"", template, StringComparison.Ordinal);
    }

    [Fact]
    public void CrdTemplate_AnnotationInsertion_YieldsTheSameCrdWithOnlyTheKeepAnnotationAdded()
    {
        // What the template's `replace` does, done here: the anchor must occur exactly once (the top-level metadata),
        // and the result must still be the same CRD.
        var original = File.ReadAllText(Path.Combine(ChartFiles.ChartDir, "files", "crds", FileName));
        const string anchor = "\nmetadata:\n";
        Assert.Equal(original.IndexOf(anchor, StringComparison.Ordinal), original.LastIndexOf(anchor, StringComparison.Ordinal));
        Assert.DoesNotContain("annotations:", original.Split("\nspec:\n")[0], StringComparison.Ordinal);

        var rendered = original.Replace(anchor, "\nmetadata:\n  annotations:\n    helm.sh/resource-policy: keep\n", StringComparison.Ordinal);
        var before = KubernetesYaml.Deserialize<V1CustomResourceDefinition>(original);
        var after = KubernetesYaml.Deserialize<V1CustomResourceDefinition>(rendered);

        Assert.Equal("keep", after.Metadata.Annotations["helm.sh/resource-policy"]);
        after.Metadata.Annotations = null;
        Assert.Equal(KubernetesYaml.Serialize(before), KubernetesYaml.Serialize(after));
    }

    [Fact]
    public void ChartHasNoCrdsFolder_SoHelmNeverInstallsTheCrdTwice()
    {
        // Helm installs a chart's crds/ folder unconditionally and never upgrades it; the templated copy replaces it.
        Assert.False(Directory.Exists(Path.Combine(ChartFiles.ChartDir, "crds")));
    }
}
