using System.Diagnostics;
using k8s;
using k8s.Models;

namespace DialogueDb.Operator.Tests.EndToEnd;

/// <summary>
/// The Helm chart rendered by a real <c>helm template</c> (tests/infra/install-helm.sh provides one, as for
/// <c>make chart-lint</c>): the objects a <c>helm install</c> would create, for applying its RBAC to envtest and
/// dry-running its Deployment.
/// </summary>
internal sealed class RenderedChart
{
    public const string Release = "dialoguedb";

    private RenderedChart(string releaseNamespace, IReadOnlyList<object> objects)
    {
        ReleaseNamespace = releaseNamespace;
        Objects = objects;
    }

    public string ReleaseNamespace { get; }

    public IReadOnlyList<object> Objects { get; }

    public V1ServiceAccount ServiceAccount => Objects.OfType<V1ServiceAccount>().Single();

    public V1Deployment Deployment => Objects.OfType<V1Deployment>().Single();

    /// <summary>
    /// Renders the chart with its default values (cluster-wide, leader election on) into <paramref
    /// name="releaseNamespace"/>.
    /// </summary>
    public static async Task<RenderedChart> RenderAsync(string releaseNamespace, CancellationToken cancellationToken)
    {
        var helm = (await RunAsync(
            "bash", [Path.Combine(RepositoryRoot.Path, "tests", "infra", "install-helm.sh")], cancellationToken)).Trim();
        var yaml = await RunAsync(helm,
            ["template", Release, Path.Combine(RepositoryRoot.Path, "charts", "dialoguedb-operator"), "--namespace", releaseNamespace],
            cancellationToken);
        return new RenderedChart(releaseNamespace, KubernetesYaml.LoadAllFromString(yaml));
    }

    /// <summary>Creates the release namespace, the ServiceAccount and every RBAC object of the chart, as rendered.</summary>
    public async Task InstallRbacAsync(IKubernetes client, CancellationToken cancellationToken)
    {
        var ns = new V1Namespace { Metadata = new V1ObjectMeta { Name = ReleaseNamespace } };
        await client.CoreV1.CreateNamespaceAsync(ns, cancellationToken: cancellationToken);
        foreach (var item in Objects)
        {
            _ = item switch
            {
                V1ServiceAccount a => await client.CoreV1.CreateNamespacedServiceAccountAsync(a, ReleaseNamespace,
                    cancellationToken: cancellationToken) as object,
                V1ClusterRole r => await client.RbacAuthorizationV1.CreateClusterRoleAsync(r, cancellationToken: cancellationToken),
                V1ClusterRoleBinding b => await client.RbacAuthorizationV1.CreateClusterRoleBindingAsync(b,
                    cancellationToken: cancellationToken),
                V1Role r => await client.RbacAuthorizationV1.CreateNamespacedRoleAsync(r, r.Metadata.NamespaceProperty ?? ReleaseNamespace,
                    cancellationToken: cancellationToken),
                V1RoleBinding b => await client.RbacAuthorizationV1.CreateNamespacedRoleBindingAsync(b,
                    b.Metadata.NamespaceProperty ?? ReleaseNamespace, cancellationToken: cancellationToken),
                _ => null,
            };
        }
    }

    /// <summary>A token of the chart's ServiceAccount (TokenRequest): a client with it has exactly the chart's rules.</summary>
    public async Task<string> ServiceAccountTokenAsync(IKubernetes client, CancellationToken cancellationToken)
    {
        var request = new Authenticationv1TokenRequest { Spec = new V1TokenRequestSpec { ExpirationSeconds = 24 * 3600 } };
        var issued = await client.CoreV1.CreateNamespacedServiceAccountTokenAsync(request, ServiceAccount.Metadata.Name, ReleaseNamespace,
            cancellationToken: cancellationToken);
        return issued.Status.Token;
    }

    private static async Task<string> RunAsync(string executable, string[] arguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(
            executable) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start " + executable);
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var errors = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{executable} {string.Join(' ', arguments)} exited with {process.ExitCode}: {await errors}");
        }

        return await output;
    }
}
