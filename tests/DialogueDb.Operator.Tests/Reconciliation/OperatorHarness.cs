using System.Text.Json.Nodes;
using DialogueDb.Operator.Hosting;
using DialogueDb.Operator.Kubernetes;
using DialogueDb.Operator.Provisioning;
using DialogueDb.Operator.Reconciliation;
using DialogueDb.Operator.Resources;
using DialogueDb.Operator.Tests.Fakes;
using k8s;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;

namespace DialogueDb.Operator.Tests.Reconciliation;

/// <summary>Records what the reconciler asked of the shared servers, instead of touching real ones.</summary>
internal sealed class RecordingInfrastructure : IProjectInfrastructure
{
    public List<string> Ensured { get; } = [];

    /// <summary>The ensures so far, read under the lock the reconciler's workers add them with.</summary>
    public int EnsuredCount
    {
        get
        {
            lock (Ensured)
            {
                return Ensured.Count;
            }
        }
    }

    public List<string> Dropped { get; } = [];

    public bool ManagesPostgres => true;
    public bool ManagesRedis => true;

    public string PostgresConnection(string database, string role, string password) => $"Host=pg;Database={database};Username={role};Password={password}";

    public string RedisConnection(string user, string password) => $"redis:6379,user={user},password={password}";

    public Task EnsureAsync(ProjectIdentity names, ProjectPasswords passwords, bool database, bool redis, CancellationToken cancellationToken)
    {
        lock (Ensured)
        {
            Ensured.Add(names.ProjectId);
        }

        return Task.CompletedTask;
    }

    /// <summary>Fault injection: while set, drops fail with this error (as a refusing server would).</summary>
    public Exception? DropFailure { get; set; }

    /// <summary>Drops asked for, failed or not.</summary>
    public int DropAttempts => _dropAttempts;

    private int _dropAttempts;

    public Task DropAsync(ProjectIdentity names, bool database, bool redis, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _dropAttempts);
        if (DropFailure is { } failure)
        {
            return Task.FromException(failure);
        }

        lock (Dropped)
        {
            Dropped.Add(names.ProjectId);
        }

        return Task.CompletedTask;
    }

    /// <summary>What the projects' pods published, by Redis key (<c>ddb:{project}:usage</c>); reads fail while <see cref="UsageFailure"/> is set.</summary>
    public Dictionary<string, string> PublishedUsage { get; } = [];

    public Exception? UsageFailure { get; set; }

    public int UsageReads { get; private set; }

    public Task<IReadOnlyList<string?>> ReadPublishedUsageAsync(IReadOnlyList<ProjectIdentity> projects, CancellationToken cancellationToken)
    {
        if (UsageFailure is { } failure)
        {
            return Task.FromException<IReadOnlyList<string?>>(failure);
        }

        lock (PublishedUsage)
        {
            UsageReads++;
            return Task.FromResult<IReadOnlyList<string?>>(
                [.. projects.Select(p => PublishedUsage.GetValueOrDefault(p.RedisKeyPrefix + "usage"))]);
        }
    }

    public Task<IReadOnlyList<string>> RemainingAsync(ProjectIdentity names, bool database, bool redis, CancellationToken cancellationToken)
    {
        lock (Dropped)
        {
            return Task.FromResult<IReadOnlyList<string>>(Dropped.Contains(names.ProjectId) ? [] : ["database " + names.Database]);
        }
    }
}

/// <summary>The real controller and reconciler, running against the in-process fake API server.</summary>
internal sealed class OperatorHarness : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly ServiceProvider _services;
    private readonly Task _running;

    /// <summary>Builds the operator with the production registration; only the shared servers are replaced by a recording double.</summary>
    /// <param name="time">
    /// The operator's clock; a FakeTimeProvider freezes every delay (error backoff, requeues, resync), so a test sees
    /// exactly the reconciles that events cause.
    /// </param>
    public OperatorHarness(OperatorOptions? options = null, TimeProvider? time = null)
    {
        Options = options ?? new OperatorOptions { LeaderElection = { Enabled = false }, ResyncSeconds = 3600 };
        Client = Api.CreateClient();
        _services = new ServiceCollection()
            .AddLogging()
            .AddSingleton(time ?? TimeProvider.System)
            .AddSingleton<IProjectInfrastructure>(Infrastructure)
            .AddOperator(Options, Client)
            .BuildServiceProvider();
        var controller = _services.GetRequiredService<ProjectController>();
        Controller = controller;
        _running = Task.Run(() => controller.RunAsync(_stop.Token));
    }

    public FakeKubeApi Api { get; } = new();
    public IKubernetes Client { get; }
    public OperatorOptions Options { get; }
    public RecordingInfrastructure Infrastructure { get; } = new();
    public ProjectController Controller { get; }

    /// <summary>The operator's services (its meter factory, for metric assertions).</summary>
    public IServiceProvider Services => _services;

    public const string Namespace = "tenant-a";

    public async Task<DialogueProject> CreateAsync(string name, Action<DialogueProjectSpec>? spec = null)
    {
        var project = new DialogueProject { Spec = new DialogueProjectSpec { ApiKeys = [new ApiKeySpec { Name = "default" }] } };
        project.Metadata.Name = name;
        project.Metadata.NamespaceProperty = Namespace;
        spec?.Invoke(project.Spec);
        return await Client.CustomObjects.CreateNamespacedCustomObjectAsync<DialogueProject>(
            project, DialogueProject.Group, DialogueProject.Version, Namespace, DialogueProject.Plural);
    }

    public DialogueProject? Project(string name) => Api.Get<DialogueProject>(Namespace, name);

    public JsonObject? Object(string apiVersion, string kind, string name) => Api.Get(apiVersion, kind, Namespace, name);

    public V1Secret? Secret(string name) => Api.Get<V1Secret>(Namespace, name);

    /// <summary>Waits (polling the fake's store) until <paramref name="condition"/> holds; fails the test after 20 s.</summary>
    public static async Task EventuallyAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail("Timed out waiting until " + what);
            }

            await Task.Delay(20);
        }
    }

    /// <summary>Waits until the project's status describes its current generation with the given condition status.</summary>
    public Task ReconciledAsync(string name, string condition = "Ready", string status = "True") => EventuallyAsync(() =>
    {
        var project = Project(name);
        return project?.Status?.ObservedGeneration == project?.Metadata.Generation
            && project?.Status?.Conditions?.Any(c => c.Type == condition && c.Status == status) == true;
    }, $"{name} has {condition}={status}");

    /// <summary>Plays the Deployment controller: marks the project's pods as rolled out and ready.</summary>
    public void RollOut(string name)
    {
        Api.Edit("apps/v1", "Deployment", Namespace, ProjectNaming.Api(name), "kube-controller-manager", deployment =>
        {
            var replicas = deployment["spec"]!["replicas"]!.GetValue<int>();
            deployment["status"] = new JsonObject
            {
                ["observedGeneration"] = deployment["metadata"]!["generation"]!.GetValue<long>(),
                ["replicas"] = replicas,
                ["updatedReplicas"] = replicas,
                ["readyReplicas"] = replicas,
                ["availableReplicas"] = replicas,
            };
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _running;
        }
        catch (OperationCanceledException)
        {
        }

        await _services.DisposeAsync();
        _stop.Dispose();
        Client.Dispose();
    }
}
