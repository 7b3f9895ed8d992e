using DialogueDb.Operator.Hosting;
using DialogueDb.Operator.Kubernetes;
using DialogueDb.Operator.Reconciliation;
using DialogueDb.Operator.Resources;
using k8s;
using k8s.Models;

namespace DialogueDb.Operator.Tests.Reconciliation;

/// <summary>
/// The search workers as pure desired state: the indexer Deployment of <c>spec.search.indexer.mode: external</c>, the
/// API's side of it, the reindex Job of <c>spec.search.reindex</c> and the NetworkPolicy of both.
/// </summary>
public sealed class SearchWorkersDesiredStateTests
{
    private static ProjectInputs Inputs(Action<DialogueProjectSpec>? spec = null, int replicas = 1, OperatorOptions? options = null) =>
        DesiredInputs.For(spec, replicas, options);

    private static Action<DialogueProjectSpec> Indexer(string? mode, bool? enabled = null, Action<SearchIndexerSpec>? indexer = null) => s =>
    {
        s.Search = new SearchSpec { Enabled = enabled, Indexer = new SearchIndexerSpec { Mode = mode } };
        indexer?.Invoke(s.Search.Indexer);
    };

    private static V1Container Api(ProjectInputs inputs) => DesiredState.Deployment(inputs).Spec.Template.Spec.Containers.Single(c => c.Name == "api");

    private static V1Container IndexerContainer(ProjectInputs inputs) =>
        Assert.Single(DesiredState.IndexerDeployment(inputs).Spec.Template.Spec.Containers);

    private static string Yaml(object value) => KubernetesYaml.Serialize(value);

    [Fact]
    public void Build_IndexerDeployment_OnlyInExternalMode_WithSearchOn()
    {
        static string[] Deployments(ProjectInputs inputs) =>
            [.. DesiredState.Build(inputs).OfType<V1Deployment>().Select(d => d.Metadata.Name)];

        Assert.Equal(["support-api"], Deployments(Inputs()));
        Assert.Equal(["support-api"], Deployments(Inputs(Indexer(null))));
        Assert.Equal(["support-api"], Deployments(Inputs(Indexer("inprocess"))));
        Assert.Equal(["support-api"], Deployments(Inputs(Indexer("external", enabled: false))));
        Assert.Equal(["support-api", "support-indexer"], Deployments(Inputs(Indexer("external"))));
    }

    [Fact]
    public void ApiDeployment_ExternalMode_OnlyQueues_OtherwiseTheVariableIsAbsent()
    {
        Assert.Equal("external", Assert.Single(Api(Inputs(Indexer("external"))).Env, e => e.Name == "DIALOGUEDB_SEARCH_INDEXER").Value);
        // Absent rather than "inprocess": a project that never sets the field keeps the pod template it had.
        Assert.DoesNotContain(Api(Inputs()).Env, e => e.Name == "DIALOGUEDB_SEARCH_INDEXER");
        Assert.DoesNotContain(Api(Inputs(Indexer("inprocess"))).Env, e => e.Name == "DIALOGUEDB_SEARCH_INDEXER");
        Assert.DoesNotContain(Api(Inputs(Indexer("external", enabled: false))).Env, e => e.Name == "DIALOGUEDB_SEARCH_INDEXER");
        Assert.Equal(Yaml(DesiredState.Deployment(Inputs())), Yaml(DesiredState.Deployment(Inputs(Indexer("inprocess")))));
        // The migrate init container and the retention job do not index either way.
        var external = Inputs(Indexer("external"));
        Assert.DoesNotContain(DesiredState.Deployment(external).Spec.Template.Spec.InitContainers.Single().Env, e => e.Name == "DIALOGUEDB_SEARCH_INDEXER");
        Assert.DoesNotContain(DesiredState.RetentionCronJob(external).Spec.JobTemplate.Spec.Template.Spec.Containers.Single().Env,
            e => e.Name == "DIALOGUEDB_SEARCH_INDEXER");
    }

    [Fact]
    public void IndexerDeployment_RunsIndex_WithTheMaintenanceConnectionKeyRingAndPolicy_AndNothingElse()
    {
        var inputs = Inputs(Indexer("external"));
        var deployment = DesiredState.IndexerDeployment(inputs);
        var pod = deployment.Spec.Template.Spec;
        var indexer = Assert.Single(pod.Containers);

        Assert.Equal("support-indexer", deployment.Metadata.Name);
        Assert.Equal("indexer", indexer.Name);
        Assert.Equal(["index"], indexer.Args);
        Assert.Equal("registry/dialoguedb:1.0", indexer.Image);
        Assert.Null(pod.InitContainers); // the API's init container migrates; the indexer never does
        Assert.Equal("support-api", pod.ServiceAccountName); // may read the policy Secret, nothing else
        Assert.False(pod.EnableServiceLinks);
        Assert.Equal("Always", pod.RestartPolicy);
        Assert.Equal(30, pod.TerminationGracePeriodSeconds);

        var postgres = Assert.Single(indexer.Env, e => e.Name == "DIALOGUEDB_POSTGRES").ValueFrom.SecretKeyRef;
        Assert.Equal(("support-connection", "postgres-maintenance"), (postgres.Name, postgres.Key));
        Assert.Equal("support-policy", indexer.Env.Single(e => e.Name == "DIALOGUEDB_POLICY_SECRET").Value);
        Assert.Equal("metadata.namespace", indexer.Env.Single(e => e.Name == "POD_NAMESPACE").ValueFrom.FieldRef.FieldPath);
        Assert.Equal("/etc/dialoguedb/encryption/keys.json", indexer.Env.Single(e => e.Name == "DIALOGUEDB_ENCRYPTION_KEYS_FILE").Value);
        Assert.Equal("http://0.0.0.0:9464", indexer.Env.Single(e => e.Name == "DIALOGUEDB_METRICS_URLS").Value);
        // No Redis, TLS, API-key hash secret, event key or second connection: `dialoguedb index` reads none of them.
        Assert.Equal(
            ["DIALOGUEDB_DATA_DIR", "POD_NAMESPACE", "DIALOGUEDB_POLICY_SECRET", "DIALOGUEDB_POSTGRES", "DIALOGUEDB_ENCRYPTION_KEYS_FILE",
                "DIALOGUEDB_METRICS_URLS"],
            indexer.Env.Select(e => e.Name));
        Assert.Equal(["tmp", "data", "encryption"], pod.Volumes.Select(v => v.Name));
        var encryption = pod.Volumes.Single(v => v.Name == "encryption").Secret;
        Assert.Equal("support-encryption", encryption.SecretName);
        Assert.Equal(0x100, encryption.DefaultMode);
        Assert.All(indexer.VolumeMounts.Where(m => m.Name == "encryption"), m => Assert.True(m.ReadOnlyProperty));
        Assert.DoesNotContain(indexer.Env, e => e.Value?.Contains("Password", StringComparison.OrdinalIgnoreCase) == true);
    }

    [Fact]
    public void IndexerDeployment_ProbesThePlainHttpWorkerListener_OnTheMetricsPort()
    {
        var indexer = IndexerContainer(Inputs(Indexer("external")));

        var port = Assert.Single(indexer.Ports);
        Assert.Equal(("metrics", 9464, "TCP"), (port.Name, port.ContainerPort, port.Protocol));
        foreach (var (probe, path) in new[]
        {
            (indexer.StartupProbe, "/healthz/live"), (indexer.LivenessProbe, "/healthz/live"), (indexer.ReadinessProbe, "/healthz/ready"),
        })
        {
            Assert.NotNull(probe);
            Assert.Equal(path, probe.HttpGet.Path);
            Assert.Equal("metrics", probe.HttpGet.Port.Value);
            Assert.Equal("HTTP", probe.HttpGet.Scheme);
        }

        // The listener opens after the start-up checks: the startup probe gives it as long as the API's.
        Assert.Equal(120, indexer.StartupProbe.PeriodSeconds * indexer.StartupProbe.FailureThreshold);
    }

    [Fact]
    public void SearchWorkers_HaveTheApiPodsSecurityContext_AndRegion()
    {
        var inputs = Inputs(s =>
        {
            Indexer("external")(s);
            s.Region = "eu-west-1";
        });
        var api = DesiredState.Deployment(inputs).Spec.Template.Spec;
        var pods = new[] { DesiredState.IndexerDeployment(inputs).Spec.Template.Spec, DesiredState.ReindexJob(inputs, 1).Spec.Template.Spec };

        foreach (var pod in pods)
        {
            Assert.Equal(Yaml(api.SecurityContext), Yaml(pod.SecurityContext));
            Assert.Equal(Yaml(api.Containers.Single().SecurityContext), Yaml(pod.Containers.Single().SecurityContext));
            Assert.True(pod.Containers.Single().SecurityContext.ReadOnlyRootFilesystem);
            Assert.Equal("eu-west-1", pod.NodeSelector["topology.kubernetes.io/region"]);
            Assert.Equal(Yaml(api.Volumes.Where(v => v.EmptyDir is not null)), Yaml(pod.Volumes.Where(v => v.EmptyDir is not null)));
        }
    }

    [Fact]
    public void IndexerDeployment_Replicas_DefaultOne_AsAsked_NoneWhileTheProjectIsScaledToZero()
    {
        static int? Replicas(ProjectInputs inputs) => DesiredState.IndexerDeployment(inputs).Spec.Replicas;

        Assert.Equal(1, Replicas(Inputs(Indexer("external"))));
        Assert.Equal(1, Replicas(Inputs(Indexer("external"), replicas: 3))); // not the API's count
        Assert.Equal(2, Replicas(Inputs(Indexer("external", indexer: i => i.Replicas = 2))));
        Assert.Equal(0, Replicas(Inputs(Indexer("external", indexer: i => i.Replicas = 2), replicas: 0)));
    }

    [Fact]
    public void IndexerDeployment_RollsOneAtATime_WithItsOwnSelector_AndTheConfigHash()
    {
        var deployment = DesiredState.IndexerDeployment(Inputs(Indexer("external")));

        Assert.Equal(new Dictionary<string, string> { [ProjectNaming.ProjectLabel] = "support", [ProjectNaming.ComponentLabel] = "indexer" },
            deployment.Spec.Selector.MatchLabels);
        Assert.Equal("indexer", deployment.Spec.Template.Metadata.Labels[ProjectNaming.ComponentLabel]);
        Assert.Equal("indexer", deployment.Metadata.Labels[ProjectNaming.ComponentLabel]);
        Assert.Equal("abc", deployment.Spec.Template.Metadata.Annotations[ProjectNaming.ConfigHashAnnotation]);
        Assert.Equal(("0", "1"), (deployment.Spec.Strategy.RollingUpdate.MaxUnavailable.Value, deployment.Spec.Strategy.RollingUpdate.MaxSurge.Value));
        Assert.Equal("uid-1", Assert.Single(deployment.Metadata.OwnerReferences).Uid);
    }

    [Fact]
    public void SearchWorkers_Resources_TheIndexersOwn_ElseTheProjects_ElseTheOperatorDefault()
    {
        static (string? Cpu, string? Memory) Of(ProjectInputs inputs)
        {
            var resources = IndexerContainer(inputs).Resources;
            var job = DesiredState.ReindexJob(inputs, 1).Spec.Template.Spec.Containers.Single().Resources;
            Assert.Equal(Yaml(resources), Yaml(job));
            return (resources.Requests?["cpu"].ToString(), resources.Limits?["memory"].ToString());
        }

        var own = new ResourceRequirements
        {
            Requests = new Dictionary<string, string> { ["cpu"] = "2" }, Limits = new Dictionary<string, string> { ["memory"] = "3Gi" },
        };
        var project = new ResourceRequirements
        {
            Requests = new Dictionary<string, string> { ["cpu"] = "500m" }, Limits = new Dictionary<string, string> { ["memory"] = "1Gi" },
        };

        Assert.Equal(("2", "3Gi"), Of(Inputs(s => { Indexer("external", indexer: i => i.Resources = own)(s); s.Resources = project; })));
        Assert.Equal(("500m", "1Gi"), Of(Inputs(s => { Indexer("external")(s); s.Resources = project; })));
        Assert.Equal(("100m", "512Mi"), Of(Inputs(Indexer("external"))));
    }

    [Fact]
    public void ReindexJob_RunsReindexOnce_NamedForItsRequest_KeptADay_SelectedByTheOperatorsJobWatch()
    {
        var inputs = Inputs();
        var job = DesiredState.ReindexJob(inputs, 7);
        var pod = job.Spec.Template.Spec;
        var container = Assert.Single(pod.Containers);

        Assert.Equal(("batch/v1", "Job", "support-reindex-7", "tenant-a"), (job.ApiVersion, job.Kind, job.Metadata.Name, job.Metadata.NamespaceProperty));
        Assert.Equal(["reindex"], container.Args);
        Assert.Equal("Never", pod.RestartPolicy);
        Assert.Equal(3, job.Spec.BackoffLimit);
        Assert.Equal(86400, job.Spec.TtlSecondsAfterFinished);
        Assert.Equal("uid-1", Assert.Single(job.Metadata.OwnerReferences).Uid);
        Assert.Equal("reindex", pod.Containers.Single().Name);
        Assert.Equal("reindex", job.Spec.Template.Metadata.Labels[ProjectNaming.ComponentLabel]);
        Assert.Equal("support", job.Spec.Template.Metadata.Labels[ProjectNaming.ProjectLabel]);
        Assert.True(Matches(ProjectController.ReindexJobSelector, job.Metadata.Labels));
        // A batch process: no listener, no probes; the same connection, key ring and policy as the indexer.
        Assert.Null(container.Ports);
        Assert.Null(container.ReadinessProbe);
        Assert.DoesNotContain(container.Env, e => e.Name == "DIALOGUEDB_METRICS_URLS");
        Assert.Equal("postgres-maintenance", container.Env.Single(e => e.Name == "DIALOGUEDB_POSTGRES").ValueFrom.SecretKeyRef.Key);
        Assert.Equal(
            ["DIALOGUEDB_DATA_DIR", "POD_NAMESPACE", "DIALOGUEDB_POLICY_SECRET", "DIALOGUEDB_POSTGRES", "DIALOGUEDB_ENCRYPTION_KEYS_FILE"],
            container.Env.Select(e => e.Name));
        Assert.Equal(["tmp", "data", "encryption"], pod.Volumes.Select(v => v.Name));
        Assert.True(ProjectNaming.Reindex(new string('p', ProjectNaming.MaxProjectNameLength), int.MaxValue).Length <= 63,
            "a Job's name becomes a label value (job-name): at most 63 characters");
    }

    [Fact]
    public void ReindexJob_NotPartOfTheAppliedObjects_TheSearchStepCreatesItOnce()
    {
        Assert.DoesNotContain(DesiredState.Build(Inputs(s => s.Search = new SearchSpec { Reindex = 3 })), o => o is V1Job);
    }

    [Fact]
    public void SearchWorkersNetworkPolicy_NoIngress_EgressOnlyToDnsKubernetesApiAndPostgres()
    {
        var policy = DesiredState.SearchWorkersNetworkPolicy(Inputs());

        Assert.Equal("support-search-workers", policy.Metadata.Name);
        Assert.Equal(["Ingress", "Egress"], policy.Spec.PolicyTypes);
        Assert.Empty(policy.Spec.Ingress);
        Assert.Equal("support", policy.Spec.PodSelector.MatchLabels[ProjectNaming.ProjectLabel]);
        var components = Assert.Single(policy.Spec.PodSelector.MatchExpressions);
        Assert.Equal((ProjectNaming.ComponentLabel, "In"), (components.Key, components.OperatorProperty));
        Assert.Equal(["indexer", "reindex"], components.Values);
        // No Redis (6379): the workers never use it; PostgreSQL only at the shared server's peers.
        Assert.Equal(["53", "53", "443", "6443", "5432"], policy.Spec.Egress.SelectMany(e => e.Ports).Select(p => p.Port.Value));
        Assert.Equal("10.0.0.5/32", policy.Spec.Egress[^1].To.Single().IpBlock.Cidr);
        Assert.Equal("kube-dns", policy.Spec.Egress[0].To.Single().PodSelector.MatchLabels["k8s-app"]);
    }

    [Fact]
    public void SearchWorkersNetworkPolicy_MetricsScrapers_ReachTheMetricsPortOnly()
    {
        var options = Inputs().Options;
        options.MetricsScrapeFrom = [new NetworkPeer { NamespaceLabels = new Dictionary<string, string> { ["kubernetes.io/metadata.name"] = "monitoring" } }];

        var rule = Assert.Single(DesiredState.SearchWorkersNetworkPolicy(Inputs(options: options)).Spec.Ingress);

        Assert.Equal("monitoring", rule.FromProperty.Single().NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]);
        Assert.Equal("9464", rule.Ports.Single().Port.Value);
    }

    [Fact]
    public void SearchWorkersNetworkPolicy_OwnDatabase_ItsPortToAnyAddress_NoRedisEvenWithItsOwnRedis_NoLlm()
    {
        var options = Inputs().Options;
        options.SummaryEndpointPeers = [new NetworkPeer { Cidr = "203.0.113.10/32" }];
        var inputs = Inputs(s =>
        {
            s.Database = new ConnectionSpec { SecretRef = new SecretKeyReference { Name = "own-database" } };
            s.Redis = new ConnectionSpec { SecretRef = new SecretKeyReference { Name = "own-redis" } };
            s.Summaries = new SummariesSpec
            {
                Provider = "openai-compatible", Model = "m", BaseUrl = "https://llm.example:8443/v1", ApiKeySecretRef = new SecretKeyReference { Name = "k" },
            };
        }, options: options);

        var egress = DesiredState.SearchWorkersNetworkPolicy(inputs).Spec.Egress;

        Assert.Equal(["53", "53", "443", "6443", "5432"], egress.SelectMany(e => e.Ports).Select(p => p.Port.Value));
        Assert.Null(egress[^1].To);
    }

    [Fact]
    public void ApiNetworkPolicy_LeavesTheSearchWorkersToTheirOwn_SoNoPodGetsTheUnionOfBoth()
    {
        var api = DesiredState.NetworkPolicy(Inputs()).Spec.PodSelector;
        var workers = DesiredState.SearchWorkersNetworkPolicy(Inputs()).Spec.PodSelector;

        foreach (var component in new[] { "api", "retention", "indexer", "reindex" })
        {
            var labels = new Dictionary<string, string> { [ProjectNaming.ProjectLabel] = "support", [ProjectNaming.ComponentLabel] = component };
            var isWorker = component is "indexer" or "reindex";
            Assert.Equal(!isWorker, Selects(api, labels));
            Assert.Equal(isWorker, Selects(workers, labels));
        }

        Assert.Contains(DesiredState.Build(Inputs()), o => o is V1NetworkPolicy { Metadata.Name: "support-search-workers" });
    }

    /// <summary>A label selector string (<c>k=v,k=v</c>) against labels.</summary>
    private static bool Matches(string selector, IDictionary<string, string> labels) =>
        selector.Split(',').Select(p => p.Split('=')).All(kv => labels.TryGetValue(kv[0], out var v) && v == kv[1]);

    /// <summary>A label selector's matchLabels and its In / NotIn expressions against a pod's labels.</summary>
    private static bool Selects(V1LabelSelector selector, Dictionary<string, string> labels) =>
        (selector.MatchLabels ?? new Dictionary<string, string>()).All(kv => labels.TryGetValue(kv.Key, out var v) && v == kv.Value)
        && (selector.MatchExpressions ?? []).All(e => e.OperatorProperty switch
        {
            "In" => labels.TryGetValue(e.Key, out var v) && e.Values.Contains(v),
            "NotIn" => !labels.TryGetValue(e.Key, out var v) || !e.Values.Contains(v),
            _ => throw new NotSupportedException(e.OperatorProperty),
        });
}
