using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Operator.Tests.EndToEnd;

/// <summary>
/// A real Kubernetes control plane on loopback, the envtest way: etcd and kube-apiserver (v1.32) from the folder
/// KUBEBUILDER_ASSETS names (see ../shared/envtest/setup.sh), with a fresh CA, serving certificate, service-account key
/// and an admin token (system:masters) made here. No kubelet and no controllers: pods never run, and Deployment
/// status is whatever a test writes. Flags follow ../shared/envtest/up.sh, the ones known to work on this machine.
/// </summary>
internal sealed class EnvtestControlPlane : IAsyncDisposable
{
    public const string AssetsVariable = "KUBEBUILDER_ASSETS";

    private readonly List<Process> _processes = [];
    private readonly TestFolder _folder = new("envtest-");
    private string _server = "";
    private string _caPem = "";

    private EnvtestControlPlane()
    {
    }

    /// <summary>The run folder: PKI, etcd data, logs and the kubeconfig.</summary>
    public string Directory => _folder.Path;

    public string KubeconfigPath => Path.Combine(Directory, "kubeconfig");

    /// <summary>Why the control plane cannot start here, or null when KUBEBUILDER_ASSETS holds the binaries.</summary>
    public static string? Unavailable()
    {
        var assets = Environment.GetEnvironmentVariable(AssetsVariable);
        if (string.IsNullOrEmpty(assets))
        {
            return $"{AssetsVariable} is not set: run `eval \"$(../shared/envtest/setup.sh)\"` (.ci/run does) to get etcd and kube-apiserver.";
        }

        var missing = new[] { "etcd", "kube-apiserver" }.Where(b => !File.Exists(Path.Combine(assets, b))).ToList();
        return missing.Count == 0 ? null : $"{AssetsVariable}={assets} has no {string.Join(", ", missing)}.";
    }

    /// <summary>Starts etcd and kube-apiserver; <paramref name="serviceIpRange"/> bounds how many Services can exist.</summary>
    /// <param name="serviceIpRange">
    /// Where Service IPs come from (bookkeeping only, nothing routes them; always in 127.0.0.0/8). The default /24
    /// holds 254 Services: enough for the suite, not for a benchmark of a thousand projects (each has a Service).
    /// </param>
    public static async Task<EnvtestControlPlane> StartAsync(CancellationToken cancellationToken, string serviceIpRange = "127.0.100.0/24")
    {
        var assets = Environment.GetEnvironmentVariable(AssetsVariable)!;
        var plane = new EnvtestControlPlane();
        try
        {
            await plane.RunAsync(assets, serviceIpRange, cancellationToken);
            return plane;
        }
        catch
        {
            await plane.DisposeAsync();
            throw;
        }
    }

    private async Task RunAsync(string assets, string serviceIpRange, CancellationToken cancellationToken)
    {
        var pki = System.IO.Directory.CreateDirectory(Path.Combine(Directory, "pki")).FullName;
        var etcdData = System.IO.Directory.CreateDirectory(Path.Combine(Directory, "etcd")).FullName;
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(etcdData, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute); // etcd insists
        }
        var (caPem, token) = WritePki(pki);
        var (etcdPort, peerPort, apiPort) = (FreePort(), FreePort(), FreePort());

        Start(Path.Combine(assets, "etcd"), "etcd",
            "--name", "envtest", "--data-dir", etcdData,
            "--listen-client-urls", $"http://127.0.0.1:{etcdPort}", "--advertise-client-urls", $"http://127.0.0.1:{etcdPort}",
            "--listen-peer-urls", $"http://127.0.0.1:{peerPort}", "--initial-advertise-peer-urls", $"http://127.0.0.1:{peerPort}",
            "--initial-cluster", $"envtest=http://127.0.0.1:{peerPort}", "--log-level", "warn");
        // Service IPs are bookkeeping only (nothing routes them): a range in 127.0.0.0/8 keeps them on this machine.
        Start(Path.Combine(assets, "kube-apiserver"), "kube-apiserver",
            "--etcd-servers", $"http://127.0.0.1:{etcdPort}", "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
            "--secure-port", apiPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--tls-cert-file", Path.Combine(pki, "apiserver.crt"), "--tls-private-key-file", Path.Combine(pki, "apiserver.key"),
            "--client-ca-file", Path.Combine(pki, "ca.crt"), "--token-auth-file", Path.Combine(pki, "tokens.csv"),
            "--service-account-key-file", Path.Combine(pki, "sa.pub"), "--service-account-signing-key-file", Path.Combine(pki, "sa.key"),
            "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
            "--api-audiences", "https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range", serviceIpRange, "--authorization-mode", "RBAC",
            "--disable-admission-plugins", "ServiceAccount", "--endpoint-reconciler-type", "none",
            "--allow-privileged=true", "--profiling=false", "--cert-dir", Path.Combine(Directory, "certs"));

        var server = $"https://127.0.0.1:{apiPort}";
        (_server, _caPem) = (server, caPem);
        await WriteKubeconfigAsync(KubeconfigPath, "admin", token, cancellationToken);
        await WaitReadyAsync(server, caPem, token, cancellationToken);
    }

    /// <summary>Writes a kubeconfig for this API server that authenticates with <paramref name="token"/>.</summary>
    public Task WriteKubeconfigAsync(string path, string user, string token, CancellationToken cancellationToken)
    {
        var caData = Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes(_caPem));
        return File.WriteAllLinesAsync(path,
        [
            "apiVersion: v1",
            "kind: Config",
            $"clusters: [{{name: envtest, cluster: {{server: \"{_server}\", certificate-authority-data: {caData}}}}}]",
            $"users: [{{name: {user}, user: {{token: {token}}}}}]",
            $"contexts: [{{name: envtest, context: {{cluster: envtest, user: {user}}}}}]",
            "current-context: envtest",
        ], cancellationToken);
    }

    /// <summary>Waits for /readyz (about 5–7 s here); fails with the server's log when it never comes.</summary>
    private async Task WaitReadyAsync(string server, string caPem, string token, CancellationToken cancellationToken)
    {
        using var ca = X509Certificate2.CreateFromPem(caPem);
        using var handler = new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, certificate, chain, _) =>
            {
                chain!.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(ca);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return certificate is not null && chain.Build(certificate);
            },
        };
        using var http = new HttpClient(handler) { BaseAddress = new Uri(server), Timeout = TimeSpan.FromSeconds(5) };
        http.DefaultRequestHeaders.Authorization = new("Bearer", token);
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            try
            {
                using var response = await http.GetAsync("/readyz", cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
            }

            if (_processes.FirstOrDefault(p => p.HasExited) is { } dead)
            {
                throw new InvalidOperationException($"{dead.StartInfo.Arguments.Split(' ')[0]} exited: {Log("kube-apiserver")}{Log("etcd")}");
            }

            await Task.Delay(300, cancellationToken);
        }

        throw new InvalidOperationException("kube-apiserver did not become ready in 60 s: " + Log("kube-apiserver"));
    }

    /// <summary>The last lines of a process's log, for failure messages.</summary>
    public string Log(string name)
    {
        var path = Path.Combine(Directory, "logs", name + ".log");
        return File.Exists(path) ? $"\n--- {name} ---\n" + string.Join('\n', File.ReadLines(path).TakeLast(30)) : "";
    }

    /// <summary>Starts a process with its output in logs/NAME.log (through `exec`, so the PID is the process's own).</summary>
    public Process Start(string executable, string name, params string[] arguments) =>
        StartWithEnvironment(executable, name, new Dictionary<string, string>(), arguments);

    public Process StartWithEnvironment(string executable, string name, IDictionary<string, string> environment, params string[] arguments)
    {
        var logs = System.IO.Directory.CreateDirectory(Path.Combine(Directory, "logs")).FullName;
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("exec \"$0\" \"$@\" > \"$LOG_FILE\" 2>&1");
        start.ArgumentList.Add(executable);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["LOG_FILE"] = Path.Combine(logs, name + ".log");
        // The operator is a .NET process (etcd and kube-apiserver ignore the setting).
        DotnetChild.DisableDiagnostics(start.Environment);
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start " + executable);
        _processes.Add(process);
        return process;
    }

    /// <summary>Stops one process this control plane started (by its own handle, never by name).</summary>
    public static async Task StopAsync(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await process.WaitForExitAsync(timeout.Token);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var process in Enumerable.Reverse(_processes))
        {
            try
            {
                await StopAsync(process);
            }
            catch (Exception ex) when (ex is InvalidOperationException or OperationCanceledException)
            {
            }

            process.Dispose();
        }

        _folder.Dispose();
    }

    /// <summary>A CA, the API server's certificate (loopback names), a service-account key pair and an admin token.</summary>
    private static (string CaPem, string Token) WritePki(string pki)
    {
        var now = DateTimeOffset.UtcNow;
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=envtest-ca", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        using var ca = caRequest.CreateSelfSigned(now.AddHours(-1), now.AddDays(7));

        using var serverKey = RSA.Create(2048);
        var serverRequest = new CertificateRequest("CN=kube-apiserver", serverKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddDnsName("kubernetes.default.svc");
        names.AddIpAddress(IPAddress.Loopback);
        names.AddIpAddress(IPAddress.Parse("127.0.100.1"));
        serverRequest.CertificateExtensions.Add(names.Build());
        serverRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var server = serverRequest.Create(ca, now.AddHours(-1), now.AddDays(7), RandomNumberGenerator.GetBytes(16));

        using var serviceAccountKey = RSA.Create(2048);
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        var caPem = ca.ExportCertificatePem();
        File.WriteAllText(Path.Combine(pki, "ca.crt"), caPem);
        File.WriteAllText(Path.Combine(pki, "apiserver.crt"), server.ExportCertificatePem());
        File.WriteAllText(Path.Combine(pki, "apiserver.key"), serverKey.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(Path.Combine(pki, "sa.key"), serviceAccountKey.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(Path.Combine(pki, "sa.pub"), serviceAccountKey.ExportSubjectPublicKeyInfoPem());
        File.WriteAllText(Path.Combine(pki, "tokens.csv"), $"{token},admin,admin-uid,\"system:masters\"\n");
        return (caPem, token);
    }

    /// <summary>A loopback port nothing listens on right now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
