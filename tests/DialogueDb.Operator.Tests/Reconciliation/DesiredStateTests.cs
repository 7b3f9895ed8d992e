using System.Text;
using DialogueDb.Operator.Hosting;
using DialogueDb.Operator.Reconciliation;
using DialogueDb.Operator.Resources;
using k8s;
using k8s.Models;

namespace DialogueDb.Operator.Tests.Reconciliation;

public sealed class DesiredStateTests
{
    private static ProjectInputs Inputs(Action<DialogueProjectSpec>? spec = null, int replicas = 1, OperatorOptions? options = null) =>
        DesiredInputs.For(spec, replicas, options);

    [Fact]
    public void Build_IsDeterministic()
    {
        var first = KubernetesYaml.SerializeAll(DesiredState.Build(Inputs()));
        var second = KubernetesYaml.SerializeAll(DesiredState.Build(Inputs()));

        Assert.Equal(first, second);
    }

    [Fact]
    public void Deployment_RestrictedPodSecurity_HttpsProbes_MigrationFirst_ConfigHash()
    {
        var deployment = DesiredState.Deployment(Inputs());
        var pod = deployment.Spec.Template.Spec;
        var api = Assert.Single(pod.Containers);
        var migrate = Assert.Single(pod.InitContainers);

        Assert.True(pod.SecurityContext.RunAsNonRoot);
        Assert.Equal("RuntimeDefault", pod.SecurityContext.SeccompProfile.Type);
        foreach (var container in new[] { api, migrate })
        {
            Assert.False(container.SecurityContext.AllowPrivilegeEscalation);
            Assert.True(container.SecurityContext.ReadOnlyRootFilesystem);
            Assert.Equal(["ALL"], container.SecurityContext.Capabilities.Drop);
        }

        Assert.Equal(["migrate", "--app-role", "api_role", "--maintenance-role", "maint_role"], migrate.Args);
        Assert.Equal("postgres-owner", migrate.Env.Single(e => e.Name == "DIALOGUEDB_POSTGRES").ValueFrom.SecretKeyRef.Key);
        Assert.Equal("postgres-api", api.Env.Single(e => e.Name == "DIALOGUEDB_POSTGRES").ValueFrom.SecretKeyRef.Key);
        Assert.Equal("postgres-maintenance", api.Env.Single(e => e.Name == "DIALOGUEDB_RELAY_POSTGRES").ValueFrom.SecretKeyRef.Key);
        Assert.Equal("HTTPS", api.ReadinessProbe.HttpGet.Scheme);
        Assert.Equal("/healthz/ready", api.ReadinessProbe.HttpGet.Path);
        Assert.Equal("abc", deployment.Spec.Template.Metadata.Annotations[ProjectNaming.ConfigHashAnnotation]);
        Assert.All(pod.Volumes.Where(v => v.Secret is not null), v => Assert.Equal(0x100, v.Secret.DefaultMode));
        Assert.DoesNotContain(api.Env, e => e.Value?.Contains("Password", StringComparison.OrdinalIgnoreCase) == true);
    }

    [Fact]
    public void Region_PinsPodsToItsNodes_ForApiAndRetention()
    {
        var inputs = Inputs(s => s.Region = "eu-west-1");

        Assert.Equal("eu-west-1", DesiredState.Deployment(inputs).Spec.Template.Spec.NodeSelector["topology.kubernetes.io/region"]);
        Assert.Equal("eu-west-1", DesiredState.RetentionCronJob(inputs).Spec.JobTemplate.Spec.Template.Spec.NodeSelector["topology.kubernetes.io/region"]);
    }

    [Fact]
    public void DisruptionBudget_OnlyWithMoreThanOneReplica()
    {
        Assert.DoesNotContain(DesiredState.Build(Inputs(replicas: 1)), o => o is V1PodDisruptionBudget);
        Assert.Contains(DesiredState.Build(Inputs(replicas: 3)), o => o is V1PodDisruptionBudget);
    }

    [Fact]
    public void NetworkPolicy_IngressOnlyFromPeers_EgressOnlyToDnsDatabaseRedisAndApi()
    {
        var policy = DesiredState.NetworkPolicy(Inputs(s => s.NetworkPolicy = new NetworkPolicySpec
        {
            IngressFrom = [new NetworkPeer { NamespaceLabels = new Dictionary<string, string> { ["kubernetes.io/metadata.name"] = "app" } }],
        }));

        Assert.Equal(["Ingress", "Egress"], policy.Spec.PolicyTypes);
        var ingress = Assert.Single(policy.Spec.Ingress);
        Assert.Equal("app", ingress.FromProperty.Single().NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]);
        Assert.Equal("8443", ingress.Ports.Single().Port.Value);
        var egressPorts = policy.Spec.Egress.SelectMany(e => e.Ports).Select(p => p.Port.Value).ToList();
        Assert.Equal(["53", "53", "443", "6443", "5432", "6379"], egressPorts);
        Assert.Equal("10.0.0.5/32", policy.Spec.Egress[2].To.Single().IpBlock.Cidr);
    }

    [Fact]
    public void NetworkPolicy_EmptyIngressList_AdmitsNobody()
    {
        var policy = DesiredState.NetworkPolicy(Inputs(s => s.NetworkPolicy = new NetworkPolicySpec { IngressFrom = [] }));

        Assert.Empty(policy.Spec.Ingress);
        Assert.Contains("Ingress", policy.Spec.PolicyTypes);
    }

    [Fact]
    public void NetworkPolicy_MetricsScrapers_ReachTheMetricsPortOnly_AndThePodsServeMetricsThere()
    {
        var options = Inputs().Options;
        options.MetricsScrapeFrom = [new NetworkPeer { NamespaceLabels = new Dictionary<string, string> { ["kubernetes.io/metadata.name"] = "monitoring" } }];
        var inputs = Inputs(s => s.NetworkPolicy = new NetworkPolicySpec { IngressFrom = [] }, options: options);

        var rule = Assert.Single(DesiredState.NetworkPolicy(inputs).Spec.Ingress);
        Assert.Equal("monitoring", rule.FromProperty.Single().NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]);
        Assert.Equal("9464", rule.Ports.Single().Port.Value);
        var api = DesiredState.Deployment(inputs).Spec.Template.Spec.Containers.Single(c => c.Name == "api");
        Assert.Contains(api.Ports, p => p.Name == "metrics" && p.ContainerPort == 9464);
        Assert.Contains(api.Env, e => e.Name == "DIALOGUEDB_METRICS_URLS" && e.Value == "http://0.0.0.0:9464");
        Assert.Empty(DesiredState.NetworkPolicy(Inputs(s => s.NetworkPolicy = new NetworkPolicySpec { IngressFrom = [] })).Spec.Ingress);
    }

    [Fact]
    public void Role_GrantsOnlyThePolicySecret()
    {
        var rule = Assert.Single(DesiredState.Role(Inputs()).Rules);

        Assert.Equal(["secrets"], rule.Resources);
        Assert.Equal(["support-policy"], rule.ResourceNames);
        Assert.Equal(["get", "list", "watch"], rule.Verbs);
    }

    [Fact]
    public void RetentionCronJob_ForbidsOverlap_SpreadsSchedule_HonoursOverrideAndSuspend()
    {
        var defaults = DesiredState.RetentionCronJob(Inputs());
        var custom = DesiredState.RetentionCronJob(Inputs(s => { s.RetentionSchedule = "5 4 * * 0"; s.Suspend = true; }));

        Assert.Equal("Forbid", defaults.Spec.ConcurrencyPolicy);
        Assert.Equal(["retention"], defaults.Spec.JobTemplate.Spec.Template.Spec.Containers.Single().Args);
        Assert.Matches(@"^\d{1,2} [0-5] \* \* \*$", defaults.Spec.Schedule);
        Assert.Equal("5 4 * * 0", custom.Spec.Schedule);
        Assert.True(custom.Spec.Suspend);
        Assert.Equal("postgres-maintenance", defaults.Spec.JobTemplate.Spec.Template.Spec.Containers.Single().Env.Single(e => e.Name == "DIALOGUEDB_POSTGRES").ValueFrom.SecretKeyRef.Key);
    }

    [Fact]
    public void EveryChild_IsOwnedByTheProject_AndLabelled()
    {
        foreach (var child in DesiredState.Build(Inputs(replicas: 2)))
        {
            var owner = Assert.Single(child.Metadata.OwnerReferences);
            Assert.True(owner.Controller);
            Assert.Equal("uid-1", owner.Uid);
            Assert.Equal(ProjectNaming.FieldManager, child.Metadata.Labels["app.kubernetes.io/managed-by"]);
            Assert.Equal("tenant-a", child.Metadata.NamespaceProperty);
            Assert.False(string.IsNullOrEmpty(child.ApiVersion));
            Assert.False(string.IsNullOrEmpty(child.Kind));
        }
    }

    [Fact]
    public void EventsKey_MountedOptionallyIntoEveryPod_AndItsSecretHoldsTheKeyFile()
    {
        var inputs = Inputs();
        var pods = new[]
        {
            DesiredState.Deployment(inputs).Spec.Template.Spec,
            DesiredState.RetentionCronJob(inputs).Spec.JobTemplate.Spec.Template.Spec,
        };

        foreach (var pod in pods)
        {
            var volume = pod.Volumes.Single(v => v.Name == "events-key");
            Assert.Equal(inputs.Project.Metadata.Name + "-events-key", volume.Secret.SecretName);
            Assert.True(volume.Secret.Optional);
            Assert.Equal(0x100, volume.Secret.DefaultMode);
            foreach (var container in pod.Containers)
            {
                var mount = container.VolumeMounts.Single(m => m.Name == "events-key");
                Assert.True(mount.ReadOnlyProperty);
                var file = container.Env.Single(e => e.Name == "DIALOGUEDB_EVENTS_KEY_FILE").Value;
                Assert.Equal($"{mount.MountPath}/{DesiredState.EventsKeyFile}", file);
            }
        }

        var secret = DesiredState.EventsKeySecret(inputs.Project, """{"activeKeyId":"ev-1","keys":{"ev-1":"AAAA"}}""");
        Assert.Equal(inputs.Project.Metadata.Name + "-events-key", secret.Metadata.Name);
        Assert.Equal("""{"activeKeyId":"ev-1","keys":{"ev-1":"AAAA"}}""", Encoding.UTF8.GetString(secret.Data[DesiredState.EventsKeyFile]));
        Assert.Single(secret.Metadata.OwnerReferences);
    }

    [Fact]
    public void EveryServiceSetting_ThePodsGet_IsOneTheServiceReads()
    {
        var known = typeof(DialogueDb.Service.Hosting.ServiceOptions).GetProperties()
            .Select(p => p.GetCustomAttributes(typeof(Microsoft.Extensions.Configuration.ConfigurationKeyNameAttribute), false)
                .Cast<Microsoft.Extensions.Configuration.ConfigurationKeyNameAttribute>().SingleOrDefault()?.Name)
            .Where(n => n is not null)
            .Select(n => DialogueDb.Service.Hosting.ServiceOptions.EnvironmentPrefix + n)
            .ToHashSet(StringComparer.Ordinal);
        // External indexing: every kind of pod the operator runs, each with its full environment.
        var inputs = Inputs(s => s.Search = new SearchSpec { Indexer = new SearchIndexerSpec { Mode = "external" } });
        var containers = DesiredState.Deployment(inputs).Spec.Template.Spec.Containers
            .Concat(DesiredState.Deployment(inputs).Spec.Template.Spec.InitContainers)
            .Concat(DesiredState.RetentionCronJob(inputs).Spec.JobTemplate.Spec.Template.Spec.Containers)
            .Concat(DesiredState.IndexerDeployment(inputs).Spec.Template.Spec.Containers)
            .Concat(DesiredState.ReindexJob(inputs, 1).Spec.Template.Spec.Containers);

        var settings = containers.SelectMany(c => c.Env).Select(e => e.Name).Where(n => n.StartsWith("DIALOGUEDB_", StringComparison.Ordinal)).Distinct().ToList();

        Assert.NotEmpty(settings);
        Assert.All(settings, name => Assert.Contains(name, known));
    }

    [Fact]
    public void Summaries_Extractive_NoKeyMountAndNoLlmEgress()
    {
        var inputs = Inputs(s => s.Summaries = new SummariesSpec { MaxSummaryCharacters = 800 });

        var api = DesiredState.Deployment(inputs).Spec.Template.Spec.Containers.Single();
        var egressPorts = DesiredState.NetworkPolicy(inputs).Spec.Egress.SelectMany(e => e.Ports).Select(p => p.Port.Value).ToList();
        Assert.DoesNotContain(api.Env, e => e.Name == "DIALOGUEDB_SUMMARY_API_KEY_FILE");
        Assert.DoesNotContain(DesiredState.Deployment(inputs).Spec.Template.Spec.Volumes, v => v.Name == "summary-key");
        Assert.Equal(["53", "53", "443", "6443", "5432", "6379"], egressPorts);
        var settings = SummaryKey.Settings(inputs.Project.Spec.Summaries)!;
        Assert.Equal("extractive", settings.Provider);
        Assert.Equal(800, settings.MaxSummaryCharacters);
    }

    [Fact]
    public void Summaries_OpenAiCompatible_KeyMountedAsFileInApiOnly_EgressToEndpointPeersOnItsPort()
    {
        var options = Inputs().Options;
        options.SummaryEndpointPeers = [new NetworkPeer { Cidr = "203.0.113.10/32" }];
        var inputs = Inputs(s => s.Summaries = new SummariesSpec
        {
            Provider = "openai-compatible",
            Model = "llama-3.1-8b",
            BaseUrl = "https://llm.internal.example:8443/v1",
            ApiKeySecretRef = new SecretKeyReference { Name = "llm-key", Key = "token" },
            Templates = new Dictionary<string, string> { ["support"] = "Summarise the support case." },
        }, options: options);

        var pod = DesiredState.Deployment(inputs).Spec.Template.Spec;
        var api = pod.Containers.Single();
        var volume = pod.Volumes.Single(v => v.Name == "summary-key");
        Assert.Equal("llm-key", volume.Secret.SecretName);
        Assert.Equal("token", volume.Secret.Items.Single().Key);
        Assert.Equal(0x100, volume.Secret.DefaultMode);
        var mount = api.VolumeMounts.Single(m => m.Name == "summary-key");
        Assert.True(mount.ReadOnlyProperty);
        Assert.Equal($"{mount.MountPath}/api-key", api.Env.Single(e => e.Name == "DIALOGUEDB_SUMMARY_API_KEY_FILE").Value);
        // Only the API pods run the summary worker: the retention job never sees the key.
        var retention = DesiredState.RetentionCronJob(inputs).Spec.JobTemplate.Spec.Template.Spec;
        Assert.DoesNotContain(retention.Volumes, v => v.Name == "summary-key");

        var llm = DesiredState.NetworkPolicy(inputs).Spec.Egress[^1];
        Assert.Equal("8443", llm.Ports.Single().Port.Value);
        Assert.Equal("203.0.113.10/32", llm.To.Single().IpBlock.Cidr);

        var settings = SummaryKey.Settings(inputs.Project.Spec.Summaries)!;
        Assert.Null(settings.Problem());
        Assert.Equal("Summarise the support case.", settings.PromptOf("support"));
        var policy = DialogueDb.Operator.Reconciliation.ProjectPolicy.Document(
            DialogueDb.Operator.Provisioning.ProjectIdentity.For("tenant-a", "support"), new EffectivePlan { Plan = "free" }, [],
            DateTimeOffset.UnixEpoch, inputs.Project.Spec.Summaries).ToJson();
        Assert.Contains("\"baseUrl\": \"https://llm.internal.example:8443/v1\"", policy, StringComparison.Ordinal);
        Assert.DoesNotContain("llm-key", policy, StringComparison.Ordinal);
    }

    [Fact]
    public void Summaries_OpenAiCompatibleWithoutPeers_EgressOnTheDefaultHttpsPortToAnyAddress()
    {
        var inputs = Inputs(s => s.Summaries = new SummariesSpec
        {
            Provider = "openai-compatible", Model = "m", BaseUrl = "https://api.example.com/v1", ApiKeySecretRef = new SecretKeyReference { Name = "k" },
        });

        var llm = DesiredState.NetworkPolicy(inputs).Spec.Egress[^1];

        Assert.Null(llm.To);
        Assert.Equal("443", llm.Ports.Single().Port.Value);
    }

    [Theory]
    [InlineData(null, "true")] // no spec.search: on, as the service's own default
    [InlineData(true, "true")]
    [InlineData(false, "false")]
    public void SearchEnabled_RenderedIntoEveryContainer_OfTheApiAndTheRetentionJob(bool? enabled, string expected)
    {
        var inputs = Inputs(s => s.Search = enabled is null ? null : new SearchSpec { Enabled = enabled });
        var pod = DesiredState.Deployment(inputs).Spec.Template.Spec;
        var job = DesiredState.RetentionCronJob(inputs).Spec.JobTemplate.Spec.Template.Spec;

        foreach (var container in pod.Containers.Concat(pod.InitContainers).Concat(job.Containers))
        {
            Assert.Equal(expected, Assert.Single(container.Env, e => e.Name == "DIALOGUEDB_SEARCH_ENABLED").Value);
        }
    }
}
