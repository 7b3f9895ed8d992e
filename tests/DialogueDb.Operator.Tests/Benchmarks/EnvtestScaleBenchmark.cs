using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using DialogueDb.Operator.Resources;
using DialogueDb.Operator.Tests.EndToEnd;
using k8s;
using k8s.Models;

namespace DialogueDb.Operator.Tests.Benchmarks;

/// <summary>
/// The operator at scale on the real API server (envtest kube-apiserver + etcd): DIALOGUEDB_BENCH_PROJECTS projects
/// (default 1000) from creation to Ready, the operator binary running as a process, a loop here playing the kubelet
/// and the Deployment controller (Deployment status patched once the operator wrote the Deployment); then the same
/// children, read back from the API server, applied with <c>kubectl apply --server-side</c> into fresh namespaces in the
/// same run; then one no-op resync, counted at the API server (<c>apiserver_request_total</c>). The projects bring
/// their own database and Redis (Secrets referenced by <c>spec.database/redis.secretRef</c>), so the figure is the
/// Kubernetes side alone, as kubectl's is. Explicit: `bench/operator-scale.sh` runs it and keeps the report.
/// </summary>
public sealed class EnvtestScaleBenchmark
{
    private const int ProjectsPerNamespace = 100;
    private const int ResyncSeconds = 60;
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Requests this test sent itself while the operator worked (subtracted from the API server's count).</summary>
    private static long s_ownRequests;

    [Fact(Explicit = true)]
    public async Task Projects_UntilReady_ComparedWithServerSideApplyOfTheSameChildren_ThenNoOpResync()
    {
        if (EnvtestControlPlane.Unavailable() is { } reason)
        {
            Assert.Skip(reason);
        }

        var ct = TestContext.Current.CancellationToken;
        var count = int.Parse(Environment.GetEnvironmentVariable("DIALOGUEDB_BENCH_PROJECTS") ?? "1000", Inv);
        await using var plane = await EnvtestControlPlane.StartAsync(ct, serviceIpRange: "127.100.0.0/16"); // a Service per project
        using var client = new k8s.Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(plane.KubeconfigPath));
        await OperatorProcessFixture.InstallCrdAsync(client, ct);
        var namespaces = Enumerable.Range(0, (count + ProjectsPerNamespace - 1) / ProjectsPerNamespace)
            .Select(i => "scale-" + i.ToString("D2", Inv)).ToList();
        foreach (var ns in namespaces)
        {
            await CreateNamespaceWithConnectionsAsync(client, ns, ct);
        }

        var (operatorProcess, operatorHealth) = await StartOperatorAsync(plane, ct);

        // 1. The operator: creation of every project to all Ready.
        var startRequests = await ApiServerRequests.CountAsync(client, ct);
        var startReconciles = await ReconcilesAsync(operatorHealth, ct);
        s_ownRequests = count + 1; // the creates below, and the count at the end
        var clock = Stopwatch.StartNew();
        var names = Enumerable.Range(
            0, count).Select(i => (Ns: namespaces[i / ProjectsPerNamespace], Name: "p" + i.ToString("D4", Inv))).ToList();
        await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct },
            async (p, token) => await client.CustomObjects.CreateNamespacedCustomObjectAsync(Project(p.Ns, p.Name),
                DialogueProject.Group, DialogueProject.Version, p.Ns, DialogueProject.Plural, cancellationToken: token));
        var created = clock.Elapsed;
        var ready = 0;
        while (ready < count)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromMinutes(30), $"{count - ready} of {count} projects not Ready after 30 minutes");
            await RollOutNewDeploymentsAsync(client, ct);
            ready = await CountReadyAsync(client, ct);
            await Task.Delay(500, ct);
        }

        var operatorTime = clock.Elapsed;
        var rss = ProcessMemory(operatorProcess.Id);
        var readyRequests = await ApiServerRequests.CountAsync(client, ct);
        var creationReconciles = await ReconcilesAsync(operatorHealth, ct) - startReconciles;
        var creationRequests = ApiServerRequests.Difference(readyRequests, startRequests)
            .Where(c => !c.Key.ByApiServer).Sum(c => c.Value) - s_ownRequests;

        // 2. A no-op resync right away (before the kubectl half adds objects to the API server): what the operator sends
        // to the API server when nothing changed.
        var before = await ApiServerRequests.CountAsync(client, ct);
        var reconcilesBefore = await ReconcilesAsync(operatorHealth, ct);
        await Task.Delay(TimeSpan.FromSeconds(ResyncSeconds + 20), ct);
        var after = await ApiServerRequests.CountAsync(client, ct);
        var resyncReconciles = await ReconcilesAsync(operatorHealth, ct) - reconcilesBefore;
        var window = ApiServerRequests.Difference(after, before);
        var resyncRequests = window.Where(c => !c.Key.ByApiServer).Sum(c => c.Value);
        // Writes to what the operator manages (projects, their status, their children and Secrets, Events): target 0.
        // Lease writes are counted apart: the kube-apiserver renews its own identity Lease every 10 s, and an operator
        // with leader election renews its Lease; neither is a write a resync makes.
        var managedWrites = window
            .Where(c => ApiServerRequests.IsWrite(c.Key) && c.Key.Resource != "leases" && !c.Key.ByApiServer).ToList();
        var leaseWrites = window.Where(c => ApiServerRequests.IsWrite(c.Key) && c.Key.Resource == "leases").ToList();
        var resyncWrites = managedWrites.Sum(c => c.Value);

        var children = 0;
        var manifests = new List<string>();
        foreach (var ns in namespaces)
        {
            var path = Path.Combine(plane.Directory, $"children-{ns}.yaml");
            children += await WriteChildrenAsync(client, ns, path, ct);
            manifests.Add(path);
        }

        string Report(TimeSpan? kubectlTime)
        {
            var operatorRate = children / operatorTime.TotalSeconds;
            var kubectlRate = kubectlTime is { } k ? children / k.TotalSeconds : double.NaN;
            return new StringBuilder()
                .AppendLine(Inv, $"## Operator on the real API server: {count} projects ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC)")
                .AppendLine()
                .AppendLine("| figure | value |")
                .AppendLine("|---|---|")
                .AppendLine(Inv, $"| projects created (8 parallel clients) | {created.TotalSeconds:0.0} s |")
                .AppendLine(Inv, $"| operator: creation to all Ready | {operatorTime.TotalSeconds:0.0} s |")
                .AppendLine(
                    Inv,
                    $"| children (objects owned by the projects, Secrets included) | {children} "
                    + $"({children / (double)count:0.0} per project) |")
                .AppendLine(kubectlTime is null
                    ? "| kubectl apply --server-side of the same children | not finished |"
                    : string.Create(Inv, $"| kubectl apply --server-side of the same children (one run per namespace, "
                        + $"{namespaces.Count} runs in a row) | {kubectlTime.Value.TotalSeconds:0.0} s |"))
                .AppendLine(Inv, $"| children/s: operator / kubectl | {operatorRate:0.0} / {kubectlRate:0.0} = "
                    + $"**{operatorRate / kubectlRate:0.00}** (target ≥ 0.8) |")
                .AppendLine(Inv, $"| operator RSS at all Ready / peak (VmRSS / VmHWM) | {rss.Rss / 1024.0:0} / {rss.Peak / 1024.0:0} MiB |")
                .AppendLine(Inv, $"| creation to Ready: operator's API requests (server count − this test's own) / reconciles | "
                    + $"{creationRequests} / {creationReconciles} |")
                .AppendLine(Inv, $"| creation to Ready: API requests per project / per reconcile | "
                    + $"{creationRequests / (double)count:0.0} / {creationRequests / (double)Math.Max(1, creationReconciles):0.0} |")
                .AppendLine(Inv, $"| no-op resync ({ResyncSeconds} s period, {ResyncSeconds + 20} s window): API requests / per project | "
                    + $"{resyncRequests} / {resyncRequests / (double)count:0.00} |")
                .AppendLine(Inv, $"| no-op resync: reconciles / API requests per reconcile | "
                    + $"{resyncReconciles} / {resyncRequests / (double)Math.Max(1, resyncReconciles):0.00} |")
                .AppendLine(Inv, $"| no-op resync: writes to projects, their status, children, Secrets and Events "
                    + $"(POST/PUT/PATCH/DELETE/APPLY) | **{resyncWrites}** (target 0) |")
                .AppendLine(Inv, $"| no-op resync: Lease writes (not the operator's resources) | "
                    + $"{ApiServerRequests.Describe(leaseWrites)} |")
                .AppendLine()
                .AppendLine("Requests in the resync window by verb and resource (the kube-apiserver's own marked): "
                    + ApiServerRequests.Describe(window))
                .AppendLine()
                .ToString();
        }

        var output = Environment.GetEnvironmentVariable("DIALOGUEDB_BENCH_OUT");
        if (output is { Length: > 0 })
        {
            await File.WriteAllTextAsync(output, Report(null), ct); // kept should the kubectl half not finish
        }

        // 3. The same children, applied by kubectl --server-side into fresh namespaces, one file (and run) per namespace:
        // a single file of every child makes kubectl itself the bottleneck (at 1,000 projects it decoded 13,000
        // documents for minutes before its first request).
        foreach (var ns in namespaces)
        {
            await client.CoreV1.CreateNamespaceAsync(
                new V1Namespace { Metadata = new V1ObjectMeta { Name = "copy-" + ns } }, cancellationToken: ct);
        }

        clock.Restart();
        foreach (var path in manifests)
        {
            await KubectlAsync(plane, ["apply", "--server-side", "--field-manager", "bench", "-f", path], ct);
        }

        var report = Report(clock.Elapsed);
        TestContext.Current.SendDiagnosticMessage(report);
        if (output is { Length: > 0 })
        {
            await File.WriteAllTextAsync(output, report, ct);
        }

        await EnvtestControlPlane.StopAsync(operatorProcess);
        Assert.True(resyncWrites == 0, "writes on a no-op resync: " + ApiServerRequests.Describe(managedWrites));
    }

    private static async Task<(Process Process, int HealthPort)> StartOperatorAsync(EnvtestControlPlane plane, CancellationToken ct)
    {
        var config = Path.Combine(plane.Directory, "operator.json");
        await File.WriteAllTextAsync(config, JsonSerializer.Serialize(new
        {
            leaderElection = new { enabled = false },
            resyncSeconds = ResyncSeconds,
        }), ct);
        var health = EnvtestControlPlane.FreePort();
        var process = plane.StartWithEnvironment(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet", "operator",
            new Dictionary<string, string> { ["KUBECONFIG"] = plane.KubeconfigPath },
            Path.Combine(AppContext.BaseDirectory, "dialoguedb-operator.dll"), "run", "--config", config,
            "--urls", $"http://127.0.0.1:{health}");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        await Eventually.UntilAsync(async () =>
        {
            Assert.False(process.HasExited, "the operator exited: " + plane.Log("operator"));
            try
            {
                using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{health}/readyz"), ct);
                return response.IsSuccessStatusCode;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                return false;
            }
        }, "the operator is ready", TimeSpan.FromSeconds(120), () => plane.Log("operator"), ct);
        return (process, health);
    }

    private static async Task CreateNamespaceWithConnectionsAsync(k8s.Kubernetes client, string ns, CancellationToken ct)
    {
        await client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = ns } }, cancellationToken: ct);
        await client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = "shared-database" },
            StringData = new Dictionary<string, string>
            {
                ["api"] = "Host=db.example;Database=bench;Username=bench_api;Password=unused",
                ["owner"] = "Host=db.example;Database=bench;Username=bench_owner;Password=unused",
                ["maintenance"] = "Host=db.example;Database=bench;Username=bench_maint;Password=unused",
            },
        }, ns, cancellationToken: ct);
        await client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = "shared-redis" },
            StringData = new Dictionary<string, string> { ["uri"] = "redis.example:6379,user=bench,password=unused" },
        }, ns, cancellationToken: ct);
    }

    private static DialogueProject Project(string ns, string name) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns },
        Spec = new DialogueProjectSpec
        {
            ApiKeys = [new ApiKeySpec { Name = "default" }],
            Database = new ConnectionSpec { SecretRef = new SecretKeyReference { Name = "shared-database" } },
            Redis = new ConnectionSpec { SecretRef = new SecretKeyReference { Name = "shared-redis" } },
        },
    };

    /// <summary>Plays the kubelet and the Deployment controller: every Deployment not yet rolled out is, now.</summary>
    private static async Task RollOutNewDeploymentsAsync(k8s.Kubernetes client, CancellationToken ct)
    {
        Interlocked.Increment(ref s_ownRequests);
        var deployments = await client.AppsV1.ListDeploymentForAllNamespacesAsync(
            labelSelector: "app.kubernetes.io/managed-by", cancellationToken: ct);
        foreach (var d in deployments.Items.Where(d => d.Status?.ObservedGeneration != d.Metadata.Generation))
        {
            var replicas = d.Spec.Replicas ?? 1;
            var status = new
            {
                status = new
                {
                    observedGeneration = d.Metadata.Generation,
                    replicas, updatedReplicas = replicas, readyReplicas = replicas, availableReplicas = replicas,
                },
            };
            Interlocked.Increment(ref s_ownRequests);
            await client.AppsV1.PatchNamespacedDeploymentStatusAsync(new V1Patch(status, V1Patch.PatchType.MergePatch),
                d.Metadata.Name, d.Metadata.NamespaceProperty, cancellationToken: ct);
        }
    }

    private static async Task<int> CountReadyAsync(k8s.Kubernetes client, CancellationToken ct)
    {
        Interlocked.Increment(ref s_ownRequests);
        var list = await client.CustomObjects.ListClusterCustomObjectAsync<DialogueProjectList>(
            DialogueProject.Group, DialogueProject.Version, DialogueProject.Plural, cancellationToken: ct);
        return list.Items.Count(p => p.Status?.ObservedGeneration == p.Metadata.Generation
            && p.Status?.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true);
    }

    /// <summary>
    /// Every object the projects of <paramref name="ns"/> own, cleaned of server-set fields, moved to copy-NAMESPACE, as
    /// one YAML file.
    /// </summary>
    private static async Task<int> WriteChildrenAsync(k8s.Kubernetes client, string ns, string path, CancellationToken ct)
    {
        var documents = new List<string>();
        var objects = new List<IKubernetesObject<V1ObjectMeta>>();
        objects.AddRange(
            (await client.CoreV1.ListNamespacedSecretAsync(ns, cancellationToken: ct)).Items.Select(Typed<V1Secret>("v1", "Secret")));
        objects.AddRange((await client.CoreV1.ListNamespacedServiceAccountAsync(
            ns, cancellationToken: ct)).Items.Select(Typed<V1ServiceAccount>("v1", "ServiceAccount")));
        objects.AddRange((await client.CoreV1.ListNamespacedServiceAsync(
            ns, cancellationToken: ct)).Items.Select(Typed<V1Service>("v1", "Service")));
        objects.AddRange((await client.AppsV1.ListNamespacedDeploymentAsync(
            ns, cancellationToken: ct)).Items.Select(Typed<V1Deployment>("apps/v1", "Deployment")));
        objects.AddRange((await client.BatchV1.ListNamespacedCronJobAsync(
            ns, cancellationToken: ct)).Items.Select(Typed<V1CronJob>("batch/v1", "CronJob")));
        objects.AddRange((await client.NetworkingV1.ListNamespacedNetworkPolicyAsync(ns, cancellationToken: ct)).Items
            .Select(Typed<V1NetworkPolicy>("networking.k8s.io/v1", "NetworkPolicy")));
        objects.AddRange((await client.RbacAuthorizationV1.ListNamespacedRoleAsync(ns, cancellationToken: ct)).Items
            .Select(Typed<V1Role>("rbac.authorization.k8s.io/v1", "Role")));
        objects.AddRange((await client.RbacAuthorizationV1.ListNamespacedRoleBindingAsync(ns, cancellationToken: ct)).Items
            .Select(Typed<V1RoleBinding>("rbac.authorization.k8s.io/v1", "RoleBinding")));
        foreach (var item in objects.Where(o => o.Metadata.OwnerReferences?.Any(r => r.Kind == DialogueProject.KindName) == true))
        {
            var meta = item.Metadata;
            item.Metadata = new V1ObjectMeta
            {
                Name = meta.Name, NamespaceProperty = "copy-" + ns, Labels = meta.Labels, Annotations = meta.Annotations,
            };
            switch (item)
            {
                case V1Service s:
                    s.Spec.ClusterIP = null;
                    s.Spec.ClusterIPs = null;
                    s.Status = null;
                    break;
                case V1Deployment d:
                    d.Status = null;
                    break;
                case V1CronJob c:
                    c.Status = null;
                    break;
            }

            documents.Add(KubernetesYaml.Serialize(item));
        }

        // Each document on its own lines: a separator glued to the last line of the one before merges the two.
        await File.WriteAllTextAsync(path, string.Join("\n---\n", documents), ct);
        return documents.Count;
    }

    private static Func<T, IKubernetesObject<V1ObjectMeta>> Typed<T>(
        string apiVersion, string kind) where T : IKubernetesObject<V1ObjectMeta> =>
        item =>
        {
            item.ApiVersion = apiVersion;
            item.Kind = kind;
            return item;
        };

    private static async Task KubectlAsync(EnvtestControlPlane plane, string[] arguments, CancellationToken ct)
    {
        var start = new ProcessStartInfo(
            "kubectl") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["KUBECONFIG"] = plane.KubeconfigPath;
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(ct);
        var errors = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        Assert.True(process.ExitCode == 0, $"kubectl {string.Join(' ', arguments)}: {await errors}");
        await output;
    }

    /// <summary>Reconciles the operator finished since it started (its <c>controller_runtime_reconcile_total</c>, every result).</summary>
    private static async Task<long> ReconcilesAsync(int healthPort, CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var text = await http.GetStringAsync(new Uri($"http://127.0.0.1:{healthPort}/metrics"), ct);
        return text.Split('\n').Where(l => l.StartsWith("controller_runtime_reconcile_total", StringComparison.Ordinal))
            .Sum(l => (long)double.Parse(l[(l.LastIndexOf('}') + 1)..].Trim().Split(' ')[0], Inv)); // the value, not the timestamp
    }

    private static (long Rss, long Peak) ProcessMemory(int pid)
    {
        long Field(string name) => long.Parse(File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(name, StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], Inv);
        return (Field("VmRSS:"), Field("VmHWM:"));
    }
}
