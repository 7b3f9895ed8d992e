using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using DialogueDb.Operator.Resources;
using DialogueDb.Operator.Tests.Provisioning;
using k8s;
using k8s.Models;
using Npgsql;

namespace DialogueDb.Operator.Tests.EndToEnd;

/// <summary>
/// One envtest control plane with the CRD installed and the operator binary running against it as a process (watching
/// every namespace, leader election on) as the Helm chart's ServiceAccount with exactly the chart's RBAC,
/// provisioning on the real PostgreSQL and Redis of tests/infra with the documented least-privilege PostgreSQL admin:
/// a CREATEDB CREATEROLE role, not a superuser. Shared by the suite; each test owns its namespace. Skips (with the
/// reason) without KUBEBUILDER_ASSETS or the test servers.
/// </summary>
public sealed class OperatorProcessFixture : IAsyncLifetime
{
    private EnvtestControlPlane? _plane;
    private Process? _operator;
    private string _superuser = "";

    /// <summary>Why the suite cannot run here (null: it runs).</summary>
    public string? SkipReason { get; private set; }

    internal k8s.Kubernetes Client { get; private set; } = null!;

    /// <summary>The PostgreSQL superuser (tests/infra's), for what a platform team does by hand and for checks.</summary>
    public string Superuser => _superuser;

    /// <summary>The least-privilege admin the operator provisions with.</summary>
    public string AdminRole { get; } = "ddb_e2e_admin_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));

    public string RedisAdmin { get; private set; } = "";

    /// <summary>The release namespace of the chart (its ServiceAccount, leader-election Lease and Role).</summary>
    public string OperatorNamespace { get; } = "dialoguedb-system";

    /// <summary>The chart as helm rendered it; its RBAC is what the operator process runs with.</summary>
    internal RenderedChart Chart { get; private set; } = null!;

    internal EnvtestControlPlane Plane => _plane!;

    /// <summary>The operator's health port, which also serves <c>/metrics</c>.</summary>
    internal Uri HealthEndpoint { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        SkipReason = EnvtestControlPlane.Unavailable();
        if (SkipReason is not null)
        {
            return;
        }

        _superuser = Environment.GetEnvironmentVariable(ProvisioningServers.PostgresVariable) ?? "";
        RedisAdmin = Environment.GetEnvironmentVariable(ProvisioningServers.RedisVariable) ?? "";
        if (_superuser.Length == 0 || RedisAdmin.Length == 0)
        {
            SkipReason = $"{ProvisioningServers.PostgresVariable} or {ProvisioningServers.RedisVariable} is not set: "
                + "start the servers with tests/infra/start-services.sh and source its env file (make test does this).";
            return;
        }

        var ct = TestContext.Current.CancellationToken;
        _plane = await EnvtestControlPlane.StartAsync(ct);
        Client = new k8s.Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(_plane.KubeconfigPath));
        await InstallCrdAsync(Client, ct);

        var adminPassword = ProvisioningServers.NewPassword();
        await SuperuserExecuteAsync($"CREATE ROLE \"{AdminRole}\" LOGIN CREATEDB CREATEROLE PASSWORD '{adminPassword}'");
        var admin = new NpgsqlConnectionStringBuilder(_superuser) { Username = AdminRole, Password = adminPassword, Database = "postgres" };
        var postgresAdminFile = Path.Combine(_plane.Directory, "postgres-admin");
        var redisAdminFile = Path.Combine(_plane.Directory, "redis-admin");
        await File.WriteAllTextAsync(postgresAdminFile, admin.ConnectionString, ct);
        await File.WriteAllTextAsync(redisAdminFile, RedisAdmin, ct);
        var redisEndpoint = RedisAdmin.Split(',')[0].Split(':');
        // The operator runs as the chart's ServiceAccount, bound to exactly the rules the chart renders (helm template).
        Chart = await RenderedChart.RenderAsync(OperatorNamespace, ct);
        await Chart.InstallRbacAsync(Client, ct);
        var operatorKubeconfig = Path.Combine(_plane.Directory, "operator-kubeconfig");
        await _plane.WriteKubeconfigAsync(operatorKubeconfig, "operator", await Chart.ServiceAccountTokenAsync(Client, ct), ct);

        var config = new
        {
            operatorNamespace = OperatorNamespace,
            leaderElection = new { enabled = true, leaseSeconds = 15, renewSeconds = 10, retrySeconds = 2 },
            resyncSeconds = 120,
            encryptionKeyActivationSeconds = 3,
            watchTimeoutSeconds = 120,
            usageSeconds = 5,
            postgres = new { host = admin.Host, port = admin.Port, adminConnectionFile = postgresAdminFile, sslMode = "Disable" },
            redis = new { host = redisEndpoint[0], port = int.Parse(redisEndpoint[1], System.Globalization.CultureInfo.InvariantCulture), adminConnectionFile = redisAdminFile },
        };
        var configFile = Path.Combine(_plane.Directory, "operator.json");
        await File.WriteAllTextAsync(configFile, JsonSerializer.Serialize(config), ct);

        var health = EnvtestControlPlane.FreePort();
        HealthEndpoint = new Uri($"http://127.0.0.1:{health}/");
        _operator = _plane.StartWithEnvironment(
            Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet", "operator",
            new Dictionary<string, string> { ["KUBECONFIG"] = operatorKubeconfig },
            Path.Combine(AppContext.BaseDirectory, "dialoguedb-operator.dll"), "run", "--config", configFile,
            "--urls", $"http://127.0.0.1:{health}");
        await WaitOperatorReadyAsync(health, ct);
    }

    /// <summary>
    /// Fails when the operator was ever refused by the API server: it runs with the chart's RBAC, so a call the chart
    /// does not allow shows up here as a 403 (in a Degraded message or a watch error) even where it retried around it.
    /// </summary>
    public void AssertNeverForbidden()
    {
        var log = File.ReadAllText(Path.Combine(_plane!.Directory, "logs", "operator.log"));
        Assert.False(log.Contains(" 403 ", StringComparison.Ordinal) || log.Contains("Forbidden", StringComparison.Ordinal),
            "The operator was refused by the API server (chart RBAC):" + OperatorLog);
    }

    /// <summary>The operator's last log lines, for failure messages.</summary>
    public string OperatorLog => _plane?.Log("operator") ?? "";

    public async Task SuperuserExecuteAsync(params string[] statements)
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(_superuser) { Pooling = false }.ConnectionString);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        foreach (var sql in statements)
        {
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
        }
    }

    public async Task<T> SuperuserScalarAsync<T>(string sql)
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(_superuser) { Pooling = false }.ConnectionString);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
    }

    public async ValueTask DisposeAsync()
    {
        if (_plane is null)
        {
            return;
        }

        Client?.Dispose();
        await _plane.DisposeAsync();
        try
        {
            await SuperuserExecuteAsync($"DROP OWNED BY \"{AdminRole}\"", $"DROP ROLE IF EXISTS \"{AdminRole}\"");
        }
        catch (PostgresException)
        {
            // A test left a project's database behind (a failed test): the role stays for a human to look at.
        }
    }

    /// <summary>Applies the committed CRD (crds/) and waits until the server established it.</summary>
    internal static async Task InstallCrdAsync(IKubernetes client, CancellationToken ct)
    {
        var crd = KubernetesYaml.Deserialize<V1CustomResourceDefinition>(
            await File.ReadAllTextAsync(Path.Combine(RepositoryRoot.Path, "crds", CrdGenerator.FileName), ct));
        await client.ApiextensionsV1.PatchCustomResourceDefinitionAsync(
            new V1Patch(crd, V1Patch.PatchType.ApplyPatch), crd.Metadata.Name, fieldManager: "dialoguedb-e2e", force: true, cancellationToken: ct);
        await Eventually.UntilAsync(async () =>
        {
            var stored = await client.ApiextensionsV1.ReadCustomResourceDefinitionAsync(crd.Metadata.Name, cancellationToken: ct);
            return stored.Status?.Conditions?.Any(c => c.Type == "Established" && c.Status == "True") == true;
        }, "the CRD is established", TimeSpan.FromSeconds(30), () => "", ct);
    }

    private async Task WaitOperatorReadyAsync(int port, CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        await Eventually.UntilAsync(async () =>
        {
            if (_operator!.HasExited)
            {
                throw new InvalidOperationException($"The operator exited with {_operator.ExitCode}: {OperatorLog}");
            }

            try
            {
                using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/readyz"), ct);
                return response.IsSuccessStatusCode;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                return false;
            }
        }, "the operator is ready (watches synced)", TimeSpan.FromSeconds(60), () => OperatorLog, ct);
    }
}

/// <summary>The suite's tests share one control plane and one operator process.</summary>
[CollectionDefinition(Name)]
public sealed class OperatorProcessSuite : ICollectionFixture<OperatorProcessFixture>
{
    public const string Name = "operator process on envtest";
}

/// <summary>Polling for a state a real API server reaches asynchronously; the failure message carries the operator's log.</summary>
internal static class Eventually
{
    public static async Task UntilAsync(
        Func<Task<bool>> condition, string what, TimeSpan timeout, Func<string> diagnostics, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > timeout)
            {
                Assert.Fail($"Timed out after {timeout.TotalSeconds:F0} s waiting until {what}.{diagnostics()}");
            }

            await Task.Delay(200, ct);
        }
    }
}
