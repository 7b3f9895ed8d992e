using System.Diagnostics;
using System.Globalization;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using DialogueDb.Service.Tests.Infrastructure;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace DialogueDb.Operator.Tests.EndToEnd;

/// <summary>
/// Plays the kubelet for one pod of a project's Deployment, without a container runtime: the pod template's init
/// containers run to completion, then its first container runs, each as a local <c>dotnet dialoguedb.dll</c> process
/// (the image's entry point) with the template's arguments and only the template's environment (plain values, Secret
/// keys and the namespace field resolved as a kubelet resolves them). Secret volumes are written the way a kubelet
/// writes them: a timestamped folder behind a <c>..data</c> symlink that is swapped atomically, file links through it,
/// mode 0400; emptyDir volumes are folders. What differs, and why: a path under a mount point maps into this pod's
/// folder; listeners on 0.0.0.0 move to free loopback ports (two pods share this machine's network); the pod's
/// ServiceAccount token (a TokenRequest for the same ServiceAccount, so the same identity and RBAC) comes through
/// KUBECONFIG instead of the in-cluster path; the process runs as the test's user, not uid 10001.
/// A Secret volume changes only when the test calls <see cref="SyncSecretVolumeAsync"/>: that is how a test plays
/// kubelets that refresh their pods' Secret volumes at different times.
/// </summary>
internal sealed class LocalPod : IAsyncDisposable
{
    private readonly IKubernetes _client;
    private readonly string _root;
    private readonly V1PodSpec _spec;
    private readonly Dictionary<int, int> _ports = [];
    private Process? _main;

    private LocalPod(IKubernetes client, string ns, string name, string root, V1PodSpec spec)
    {
        (_client, Namespace, Name, _root, _spec) = (client, ns, name, root, spec);
    }

    public string Name { get; }

    public string Namespace { get; }

    /// <summary>The loopback port the API container's HTTPS listener got.</summary>
    public int HttpsPort { get; private set; }

    public bool HasExited => _main?.HasExited ?? true;

    /// <summary>The main container's whole log.</summary>
    public string Log => File.Exists(LogPath(MainContainer.Name)) ? File.ReadAllText(LogPath(MainContainer.Name)) : "";

    private V1Container MainContainer => _spec.Containers[0];

    /// <summary>Creates the pod's volumes from the Secrets as they are now, runs the init containers, starts the main one and waits for its readiness probe.</summary>
    public static async Task<LocalPod> StartAsync(
        EnvtestControlPlane plane, IKubernetes client, V1Deployment deployment, string podName, CancellationToken cancellationToken)
    {
        var ns = deployment.Metadata.NamespaceProperty;
        var root = Directory.CreateDirectory(Path.Combine(plane.Directory, "pods", ns, podName)).FullName;
        var pod = new LocalPod(client, ns, podName, root, deployment.Spec.Template.Spec);
        await pod.RunAsync(plane, cancellationToken);
        return pod;
    }

    private async Task RunAsync(EnvtestControlPlane plane, CancellationToken cancellationToken)
    {
        foreach (var volume in _spec.Volumes)
        {
            if (volume.Secret is not null)
            {
                var secret = await SecretOrNullAsync(volume.Secret.SecretName, cancellationToken);
                if (secret is not null || volume.Secret.Optional != true)
                {
                    await SyncSecretVolumeAsync(volume.Name, secret ?? throw new InvalidOperationException(
                        $"Secret {volume.Secret.SecretName} of volume {volume.Name} does not exist (a kubelet would wait)."));
                }
            }
            else if (volume.EmptyDir is not null)
            {
                Directory.CreateDirectory(VolumePath(volume.Name));
            }
        }

        var request = new Authenticationv1TokenRequest { Spec = new V1TokenRequestSpec { ExpirationSeconds = 3600 } };
        var token = await _client.CoreV1.CreateNamespacedServiceAccountTokenAsync(
            request, _spec.ServiceAccountName, Namespace, cancellationToken: cancellationToken);
        await plane.WriteKubeconfigAsync(KubeconfigPath, _spec.ServiceAccountName, token.Status.Token, cancellationToken);
        foreach (var port in MainContainer.Ports ?? [])
        {
            _ports[port.ContainerPort] = EnvtestControlPlane.FreePort();
        }

        HttpsPort = _ports[MainContainer.ReadinessProbe.HttpGet.Port.Value is var probePort && int.TryParse(probePort, out var number)
            ? number
            : MainContainer.Ports!.Single(p => p.Name == probePort).ContainerPort];

        foreach (var init in _spec.InitContainers ?? [])
        {
            using var process = await StartContainerAsync(init, cancellationToken);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromMinutes(3));
            await process.WaitForExitAsync(timeout.Token);
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException(
                    $"Init container {init.Name} of {Name} exited with {process.ExitCode}:\n{File.ReadAllText(LogPath(init.Name))}");
            }
        }

        _main = await StartContainerAsync(MainContainer, cancellationToken);
        await Eventually.UntilAsync(() => ProbeAsync(MainContainer.ReadinessProbe.HttpGet.Path, cancellationToken),
            $"pod {Name} passes its readiness probe", TimeSpan.FromSeconds(120), () => "\n--- " + Name + " ---\n" + Tail(Log), cancellationToken);
    }

    /// <summary>Answers the probe path with 200 (as a kubelet's HTTPS probe: no certificate verification)?</summary>
    public async Task<bool> ProbeAsync(string path, CancellationToken cancellationToken)
    {
        if (HasExited)
        {
            throw new InvalidOperationException($"Pod {Name} exited with {_main?.ExitCode}:\n{Tail(Log)}");
        }

        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            using var response = await http.GetAsync(new Uri($"https://127.0.0.1:{HttpsPort}{path}"), cancellationToken);
            return response.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>
    /// A client of this pod as the install guide's client calls the project's Service: the endpoint's host name (so the
    /// serving certificate is verified by name against the project CA, nothing skipped), its connection going to this pod.
    /// </summary>
    public HttpClient Client(Uri endpoint, string caPem, string apiKey)
    {
        var ca = X509Certificate2.CreateFromPem(caPem);
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(System.Net.IPAddress.Loopback, HttpsPort, ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                {
                    if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
                    {
                        return false;
                    }

                    using var chain = new X509Chain();
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.CustomTrustStore.Add(ca);
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    return chain.Build(new X509Certificate2(certificate));
                },
            },
        };
        var http = new HttpClient(handler, disposeHandler: true) { BaseAddress = endpoint, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new("Bearer", apiKey);
        return http;
    }

    /// <summary>
    /// Writes a Secret volume as a kubelet's sync does: the new content into a fresh timestamped folder, then the
    /// <c>..data</c> link swapped to it in one rename, so a reader sees the old files or the new ones, never a mix.
    /// </summary>
    public async Task SyncSecretVolumeAsync(string volumeName, V1Secret secret)
    {
        var source = _spec.Volumes.Single(v => v.Name == volumeName).Secret;
        var dir = Directory.CreateDirectory(VolumePath(volumeName)).FullName;
        var stamp = ".." + DateTime.UtcNow.ToString("yyyy_MM_dd_HH_mm_ss.fffffff", CultureInfo.InvariantCulture) + "_" + Guid.NewGuid().ToString("N")[..6];
        var files = Directory.CreateDirectory(Path.Combine(dir, stamp)).FullName;
        var items = source.Items?.Select(i => (i.Key, i.Path)) ?? secret.Data.Keys.Select(k => (k, k));
        var written = new List<string>();
        foreach (var (key, path) in items)
        {
            var file = Path.Combine(files, path);
            await File.WriteAllBytesAsync(file, secret.Data[key]);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(file, (UnixFileMode)(source.DefaultMode ?? 0x1A4));
            }
            written.Add(path);
        }

        var previous = Directory.Exists(Path.Combine(dir, "..data")) ? new FileInfo(Path.Combine(dir, "..data")).LinkTarget : null;
        var temporary = Path.Combine(dir, "..data_tmp");
        File.Delete(temporary);
        File.CreateSymbolicLink(temporary, stamp);
        // rename(2) over the old link, as the kubelet's atomic writer does (File.Move will not move a link to a folder).
        using (var rename = Process.Start("mv", ["-T", temporary, Path.Combine(dir, "..data")]))
        {
            await rename.WaitForExitAsync();
            if (rename.ExitCode != 0)
            {
                throw new InvalidOperationException($"Could not swap {dir}/..data (mv exited with {rename.ExitCode}).");
            }
        }

        foreach (var path in written.Where(p => !File.Exists(Path.Combine(dir, p))))
        {
            File.CreateSymbolicLink(Path.Combine(dir, path), Path.Combine("..data", path));
        }

        if (previous is not null && previous != stamp)
        {
            Directory.Delete(Path.Combine(dir, previous), recursive: true);
        }
    }

    /// <summary>The volume of the pod that mounts <paramref name="secretName"/>.</summary>
    public string VolumeOf(string secretName) => _spec.Volumes.Single(v => v.Secret?.SecretName == secretName).Name;

    private async Task<Process> StartContainerAsync(V1Container container, CancellationToken cancellationToken)
    {
        var environment = new Dictionary<string, string>();
        foreach (var variable in container.Env ?? [])
        {
            environment[variable.Name] = variable.Value is not null
                ? Rewrite(container, variable.Value)
                : variable.ValueFrom?.SecretKeyRef is { } reference
                    ? Encoding.UTF8.GetString((await SecretOrNullAsync(reference.Name, cancellationToken)
                        ?? throw new InvalidOperationException($"Secret {reference.Name} is missing (a kubelet would wait)")).Data[reference.Key])
                    : variable.ValueFrom?.FieldRef?.FieldPath switch
                    {
                        "metadata.namespace" => Namespace,
                        "metadata.name" => Name,
                        var other => throw new NotSupportedException($"The local kubelet does not resolve {other} ({variable.Name})."),
                    };
        }

        environment["KUBECONFIG"] = KubeconfigPath;
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("exec \"$0\" \"$@\" > \"$LOG_FILE\" 2>&1");
        start.ArgumentList.Add(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet");
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "dialoguedb.dll"));
        foreach (var argument in container.Args ?? [])
        {
            start.ArgumentList.Add(argument);
        }

        // Only what the container gets, plus what the runtime needs to start on this machine.
        start.Environment.Clear();
        foreach (var inherited in new[] { "PATH", "HOME", "DOTNET_ROOT", "TMPDIR" })
        {
            if (Environment.GetEnvironmentVariable(inherited) is { } value)
            {
                start.Environment[inherited] = value;
            }
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        start.Environment["LOG_FILE"] = LogPath(container.Name);
        DotnetChild.DisableDiagnostics(start.Environment);
        return Process.Start(start) ?? throw new InvalidOperationException("Could not start container " + container.Name);
    }

    /// <summary>A path under one of the container's mount points maps into the pod's folder; a 0.0.0.0 listener to its loopback port.</summary>
    private string Rewrite(V1Container container, string value)
    {
        // Once, on the longest mount point the path is under (a local path may itself start with /tmp).
        var mount = (container.VolumeMounts ?? []).OrderByDescending(m => m.MountPath.Length)
            .FirstOrDefault(m => value == m.MountPath || value.StartsWith(m.MountPath + "/", StringComparison.Ordinal));
        if (mount is not null)
        {
            return VolumePath(mount.Name) + value[mount.MountPath.Length..];
        }

        foreach (var (containerPort, local) in _ports)
        {
            value = value.Replace($"0.0.0.0:{containerPort}", $"127.0.0.1:{local}", StringComparison.Ordinal);
        }

        return value;
    }

    private async Task<V1Secret?> SecretOrNullAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            return await _client.CoreV1.ReadNamespacedSecretAsync(name, Namespace, cancellationToken: cancellationToken);
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private string VolumePath(string volume) => Path.Combine(_root, "volumes", volume);

    private string KubeconfigPath => Path.Combine(_root, "kubeconfig");

    private string LogPath(string container) => Path.Combine(_root, container + ".log");

    private static string Tail(string log) => string.Join('\n', log.Split('\n').TakeLast(40));

    /// <summary>Stops the pod as a kubelet does: SIGTERM, then SIGKILL after the grace period.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_main is null)
        {
            return;
        }

        if (!_main.HasExited)
        {
            using var term = Process.Start("kill", ["-TERM", _main.Id.ToString(CultureInfo.InvariantCulture)]);
            await term.WaitForExitAsync();
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(_spec.TerminationGracePeriodSeconds ?? 30));
            try
            {
                await _main.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                _main.Kill(entireProcessTree: true);
                await _main.WaitForExitAsync();
            }
        }

        _main.Dispose();
        _main = null;
    }
}
