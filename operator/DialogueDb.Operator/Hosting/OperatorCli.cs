using System.CommandLine;
using DialogueDb.Operator.Resources;
using k8s;

namespace DialogueDb.Operator.Hosting;

/// <summary>The operator's commands: <c>run</c> (the controller) and <c>crd</c> (prints the CustomResourceDefinition).</summary>
internal static class OperatorCli
{
    public static async Task<int> RunAsync(string[] args)
    {
        var config = new Option<string?>("--config")
        {
            Description = "The operator configuration (JSON; the Helm chart mounts it from a ConfigMap)",
        };
        var urls = new Option<string?>("--urls") { Description = "Where /healthz and /readyz listen (default http://0.0.0.0:8081)" };
        var run = new Command("run", "Run the controller (leader election, watches, reconcile)") { config, urls };
        run.SetAction(async (parse, ct) =>
        {
            OperatorOptions options;
            KubernetesClientConfiguration kube;
            try
            {
                options = OperatorOptions.Load(parse.GetValue(config));
                kube = KubernetesClientConfiguration.BuildDefaultConfig();
            }
            catch (Exception ex) when (ex is InvalidOperationException or k8s.Exceptions.KubeConfigException)
            {
                await Console.Error.WriteLineAsync(ex.Message);
                return 1;
            }

            using var client = new k8s.Kubernetes(kube);
            await using var app = OperatorHost.Build(options, client, [], parse.GetValue(urls));
            await app.RunAsync(ct);
            return Environment.ExitCode;
        });

        var crd = new Command("crd", "Print the DialogueProject CustomResourceDefinition (YAML), as shipped in crds/.");
        crd.SetAction(_ => Console.Out.Write(CrdGenerator.ToYaml()));

        var root = new RootCommand("DialogueDB operator: reconciles DialogueProject resources into per-tenant deployments.") { run, crd };
        return await root.Parse(args).InvokeAsync();
    }
}
