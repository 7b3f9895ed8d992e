using System.CommandLine;
using DialogueDb.Operator.Resources;

namespace DialogueDb.Operator.Hosting;

/// <summary>The operator's commands: <c>run</c> (the controller) and <c>crd</c> (prints the CustomResourceDefinition).</summary>
internal static class OperatorCli
{
    public static async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("DialogueDB operator: reconciles DialogueProject resources into per-tenant deployments.");

        var crd = new Command("crd", "Print the DialogueProject CustomResourceDefinition (YAML), as shipped in crds/.");
        crd.SetAction(_ => Console.Out.Write(CrdGenerator.ToYaml()));
        root.Subcommands.Add(crd);

        return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
    }
}
