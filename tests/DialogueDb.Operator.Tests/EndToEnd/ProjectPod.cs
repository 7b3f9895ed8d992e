using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Storage;
using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DialogueDb.Operator.Tests.EndToEnd;

/// <summary>
/// Plays the kubelet for one API pod of a project on envtest (which runs no pods): the operator's Deployment as it is
/// stored — its init container's <c>migrate</c>, then the API container's environment, with every Secret reference and
/// Secret volume resolved from the API server — runs as the real service in-process, reading its policy Secret with a
/// token of the project's own ServiceAccount (so with exactly the Role the operator gave the pods). Only the listen
/// addresses and the data folder are the test's.
/// </summary>
internal sealed class ProjectPod : IAsyncDisposable
{
    private const string Prefix = "DIALOGUEDB_";
    private readonly WebApplication _app;
    private readonly k8s.Kubernetes _podClient;
    private readonly string _directory;

    private ProjectPod(WebApplication app, k8s.Kubernetes podClient, string directory, Uri endpoint)
    {
        _app = app;
        _podClient = podClient;
        _directory = directory;
        Endpoint = endpoint;
    }

    /// <summary>The project's endpoint (its certificate's name), reached on the in-process listener.</summary>
    public Uri Endpoint { get; }

    public IServiceProvider Services => _app.Services;

    public static async Task<ProjectPod> StartAsync(
        k8s.Kubernetes admin, EnvtestControlPlane plane, string ns, string project, CancellationToken ct)
    {
        var deployment = await admin.AppsV1.ReadNamespacedDeploymentAsync(project + "-api", ns, cancellationToken: ct);
        var spec = deployment.Spec.Template.Spec;
        var directory = Path.Combine(plane.Directory, "pods", ns);
        var mounts = await MountSecretsAsync(admin, ns, spec, directory, ct);

        var migrate = spec.InitContainers.Single();
        var migrateEnv = await EnvironmentAsync(admin, ns, migrate, mounts, ct);
        var args = migrate.Args.ToList();
        await DatabaseMigrator.MigratePostgresAsync(migrateEnv["POSTGRES"]!, args[args.IndexOf("--app-role") + 1],
            args[args.IndexOf("--maintenance-role") + 1], ct);

        var api = spec.Containers.Single();
        var settings = await EnvironmentAsync(admin, ns, api, mounts, ct);
        settings["URLS"] = "https://127.0.0.1:0";
        settings["METRICS_URLS"] = "";
        settings["DATA_DIR"] = Path.Combine(directory, "data");
        settings["POLICY_SECRET"] = $"{ns}/{settings["POLICY_SECRET"]}"; // POD_NAMESPACE, as the downward API sets it
        var options = ServiceOptions.From(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());

        var token = await admin.CoreV1.CreateNamespacedServiceAccountTokenAsync(
            new Authenticationv1TokenRequest { Spec = new V1TokenRequestSpec { ExpirationSeconds = 3600 } },
            spec.ServiceAccountName, ns, cancellationToken: ct);
        var kubeconfig = Path.Combine(directory, "kubeconfig");
        await plane.WriteKubeconfigAsync(kubeconfig, "pod", token.Status.Token, ct);
        var podClient = new k8s.Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig));

        var builder = ApiHost.CreateBuilder([], options, kubernetes: podClient);
        builder.Logging.ClearProviders();
        var app = ApiHost.Build(builder);
        await DatabaseMigrator.EnsureApiRoleIsolatedAsync(app.Services.GetRequiredService<Npgsql.NpgsqlDataSource>(), ct);
        await app.StartAsync(ct);
        var port = new Uri(app.Urls.Single(u => u.StartsWith("https", StringComparison.Ordinal))).Port;
        var stored = await admin.CustomObjects.GetNamespacedCustomObjectAsync<Resources.DialogueProject>(
            Resources.DialogueProject.Group, Resources.DialogueProject.Version, ns, Resources.DialogueProject.Plural, project, ct);
        return new ProjectPod(app, podClient, directory, new UriBuilder(stored.Status!.Endpoint!) { Port = port }.Uri);
    }

    /// <summary>
    /// A client as an application in the cluster has one: the key and the CA from the key's Secret, the endpoint's name
    /// checked against the certificate, the connection routed to the in-process listener.
    /// </summary>
    public static HttpClient Client(Uri endpoint, V1Secret keySecret)
    {
        var ca = X509CertificateLoader.LoadCertificate(PemBody(Encoding.UTF8.GetString(keySecret.Data["ca.crt"])));
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, ct) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(System.Net.IPAddress.Loopback, context.DnsEndPoint.Port, ct);
                return new NetworkStream(socket, ownsSocket: true);
            },
        };
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
        {
            if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
            {
                return false;
            }

            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            using var presented = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
            return chain.Build(presented);
        };
        var client = new HttpClient(handler) { BaseAddress = endpoint, Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new("Bearer", Encoding.UTF8.GetString(keySecret.Data["api-key"]));
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _podClient.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private static byte[] PemBody(string pem) => Convert.FromBase64String(string.Concat(
        pem.Split('\n').Where(l => l.Length > 0 && !l.StartsWith("-----", StringComparison.Ordinal))));

    /// <summary>Writes each Secret volume's files where its mount path says, under <paramref name="directory"/>; returns mount path → folder.</summary>
    private static async Task<Dictionary<string, string>> MountSecretsAsync(
        k8s.Kubernetes admin, string ns, V1PodSpec spec, string directory, CancellationToken ct)
    {
        var mounts = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var container in spec.InitContainers.Concat(spec.Containers))
        {
            foreach (var mount in container.VolumeMounts ?? [])
            {
                var volume = spec.Volumes.Single(v => v.Name == mount.Name);
                if (volume.Secret is not { } source || mounts.ContainsKey(mount.MountPath))
                {
                    continue;
                }

                var folder = Path.Combine(directory, "mounts", volume.Name);
                Directory.CreateDirectory(folder);
                var secret = await admin.CoreV1.ReadNamespacedSecretAsync(source.SecretName, ns, cancellationToken: ct);
                var items = source.Items?.Select(i => (i.Key, i.Path)) ?? secret.Data.Keys.Select(k => (k, k));
                foreach (var (key, path) in items)
                {
                    await File.WriteAllBytesAsync(Path.Combine(folder, path), secret.Data[key], ct);
                }

                mounts[mount.MountPath] = folder;
            }
        }

        return mounts;
    }

    /// <summary>The container's DIALOGUEDB_* settings (prefix removed), Secret references read, mounted paths mapped.</summary>
    private static async Task<Dictionary<string, string?>> EnvironmentAsync(
        k8s.Kubernetes admin, string ns, V1Container container, Dictionary<string, string> mounts, CancellationToken ct)
    {
        var settings = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var variable in container.Env.Where(e => e.Name.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            var value = variable.Value;
            if (variable.ValueFrom?.SecretKeyRef is { } reference)
            {
                var secret = await admin.CoreV1.ReadNamespacedSecretAsync(reference.Name, ns, cancellationToken: ct);
                value = Encoding.UTF8.GetString(secret.Data[reference.Key]);
            }

            foreach (var (mountPath, folder) in mounts)
            {
                if (value?.StartsWith(mountPath + "/", StringComparison.Ordinal) == true)
                {
                    value = folder + value[mountPath.Length..];
                }
            }

            settings[variable.Name[Prefix.Length..]] = value;
        }

        return settings;
    }
}
