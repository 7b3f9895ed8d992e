using System.CommandLine;

namespace DialogueDb.Operator.Hosting;

/// <summary>The operator's commands: <c>run</c> (the controller) and <c>crd</c> (prints the CustomResourceDefinition).</summary>
internal static class OperatorCli
{
    public static async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("DialogueDB operator: reconciles DialogueProject resources into per-tenant deployments.");
        return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
    }
}
