using System.Net;
using DialogueDb.Operator.Kubernetes;
using DialogueDb.Operator.Resources;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace DialogueDb.Operator.Tests.EndToEnd;

/// <summary>
/// The Helm chart as helm renders it, checked on the real API server: the operator process of the suite runs with the
/// chart's ServiceAccount token and nothing else (every reconcile of the suite is made with those rules), the rules
/// allow exactly <see cref="OperatorPermissions"/> (asked of the server's own authorizer), and the chart's Deployment
/// and a project's pods (API, search indexer, reindex Job) pass PodSecurity <c>restricted</c> (server-side dry runs
/// in a namespace that enforces it).
/// </summary>
[Collection(OperatorProcessSuite.Name)]
public sealed class ChartOnEnvtestTests(OperatorProcessFixture fixture)
{
    private static readonly string[] AllVerbs = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private k8s.Kubernetes Client => fixture.Client;

    [Fact]
    public async Task ChartRbac_AllowsEveryCallTheOperatorMakes_AndNothingMore()
    {
        Skip();
        var tenant = "any-tenant";
        var failures = new List<string>();
        foreach (var rule in OperatorPermissions.Rules)
        {
            var namespaces = rule.OperatorNamespaceOnly ? new[] { fixture.OperatorNamespace } : [tenant, "kube-system"];
            foreach (var ns in namespaces)
            {
                foreach (var verb in AllVerbs)
                {
                    var expected = rule.Verbs.Contains(verb);
                    if (await AllowedAsync(rule.ApiGroup, rule.Resource, verb, ns) != expected)
                    {
                        failures.Add($"{verb} {rule.ApiGroup}/{rule.Resource} in {ns}: expected {(expected ? "allowed" : "denied")}");
                    }
                }
            }

            if (rule.OperatorNamespaceOnly && await AllowedAsync(rule.ApiGroup, rule.Resource, rule.Verbs[0], tenant))
            {
                failures.Add($"{rule.Verbs[0]} {rule.ApiGroup}/{rule.Resource} is allowed outside the operator's namespace");
            }
        }

        // Neighbours of what it needs: nothing the operator does not call.
        foreach (var (group, resource, verb, ns) in new (string, string, string, string?)[]
        {
            ("", "configmaps", "get", tenant), ("", "pods", "create", tenant), ("", "pods/exec", "create", tenant),
            ("", "pods", "delete", tenant), ("", "namespaces", "delete", null), ("", "nodes", "list", null),
            ("apps", "deployments", "deletecollection", tenant), ("apps", "deployments", "get", tenant), ("apps", "replicasets", "list", tenant),
            ("apiextensions.k8s.io", "customresourcedefinitions", "update", null),
            ("rbac.authorization.k8s.io", "clusterroles", "create", null),
            ("rbac.authorization.k8s.io", "clusterrolebindings", "create", null),
            ("rbac.authorization.k8s.io", "roles", "escalate", tenant),
            ("rbac.authorization.k8s.io", "rolebindings", "bind", tenant), ("", "serviceaccounts/token", "create", tenant),
        })
        {
            if (await AllowedAsync(group, resource, verb, ns))
            {
                failures.Add($"{verb} {group}/{resource} {(ns is null ? "cluster-wide" : "in " + ns)} is allowed");
            }
        }

        Assert.Empty(failures);
        Assert.Equal(OperatorPermissions.Rules.Count(r => !r.OperatorNamespaceOnly), ClusterRuleCount());
    }

    [Fact]
    public async Task ChartDeployment_AndAProjectsPods_PassPodSecurityRestricted_AViolationIsRefused()
    {
        Skip();
        var ns = "psa-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4));
        await Client.CoreV1.CreateNamespaceAsync(new V1Namespace
        {
            Metadata = new V1ObjectMeta
            {
                Name = ns,
                Labels = new Dictionary<string, string>
                {
                    ["pod-security.kubernetes.io/enforce"] = "restricted",
                    ["pod-security.kubernetes.io/enforce-version"] = "latest",
                    ["pod-security.kubernetes.io/warn"] = "restricted",
                    ["pod-security.kubernetes.io/warn-version"] = "latest",
                },
            },
        }, cancellationToken: Ct);

        // The operator's own Deployment, as the chart renders it.
        var chartDeployment = fixture.Chart.Deployment;
        chartDeployment.Metadata.NamespaceProperty = ns;
        Assert.Empty(await DryRunWarningsAsync(chartDeployment, ns));
        await DryRunPodAsync(PodOf(chartDeployment, "operator"), ns);

        // A project's Deployment, as the operator writes it, in the restricted namespace itself.
        await CreateProjectWithItsOwnConnectionsAsync(ns);
        var project = await Eventually(() => Client.AppsV1.ReadNamespacedDeploymentAsync("psa-api", ns, cancellationToken: Ct));
        project.Metadata = new V1ObjectMeta { Name = "psa-api-dry-run", NamespaceProperty = ns };
        project.Status = null;
        Assert.Empty(await DryRunWarningsAsync(project, ns));
        await DryRunPodAsync(PodOf(project, "project"), ns);

        // The search workers' pods: the external indexer's and the reindex Job's.
        var indexer = await Eventually(() => Client.AppsV1.ReadNamespacedDeploymentAsync("psa-indexer", ns, cancellationToken: Ct));
        indexer.Metadata = new V1ObjectMeta { Name = "psa-indexer-dry-run", NamespaceProperty = ns };
        indexer.Status = null;
        Assert.Empty(await DryRunWarningsAsync(indexer, ns));
        await DryRunPodAsync(PodOf(indexer, "indexer"), ns);
        var reindex = await Eventually(() => Client.BatchV1.ReadNamespacedJobAsync("psa-reindex-1", ns, cancellationToken: Ct));
        await DryRunPodAsync(new V1Pod
        {
            Metadata = new V1ObjectMeta { Name = "reindex", Labels = reindex.Spec.Template.Metadata?.Labels },
            Spec = reindex.Spec.Template.Spec,
        }, ns);

        // The check can fail: the same pod allowed to escalate privileges is refused.
        var violating = PodOf(project, "violating");
        violating.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = true;
        var refused = await Assert.ThrowsAsync<HttpOperationException>(() => DryRunPodAsync(violating, ns));
        Assert.Equal(HttpStatusCode.Forbidden, refused.Response.StatusCode);
        Assert.Contains("violates PodSecurity", refused.Response.Content, StringComparison.Ordinal);
    }

    private void Skip()
    {
        if (fixture.SkipReason is { } reason)
        {
            Assert.Skip(reason);
        }
    }

    private int ClusterRuleCount() => fixture.Chart.Objects.OfType<V1ClusterRole>().Single().Rules.Count;

    private async Task<bool> AllowedAsync(string group, string resource, string verb, string? ns)
    {
        var parts = resource.Split('/');
        var account = fixture.Chart.ServiceAccount.Metadata.Name;
        var review = new V1SubjectAccessReview
        {
            Spec = new V1SubjectAccessReviewSpec
            {
                User = $"system:serviceaccount:{fixture.OperatorNamespace}:{account}",
                Groups = ["system:serviceaccounts", $"system:serviceaccounts:{fixture.OperatorNamespace}", "system:authenticated"],
                ResourceAttributes = new V1ResourceAttributes
                {
                    Group = group,
                    Resource = parts[0],
                    Subresource = parts.Length > 1 ? parts[1] : null,
                    Verb = verb,
                    NamespaceProperty = ns,
                },
            },
        };
        var answer = await Client.AuthorizationV1.CreateSubjectAccessReviewAsync(review, cancellationToken: Ct);
        return answer.Status.Allowed;
    }

    /// <summary>A server-side dry run of the Deployment; returns the server's warnings (PodSecurity warns on workloads).</summary>
    private async Task<IReadOnlyList<string>> DryRunWarningsAsync(V1Deployment deployment, string ns)
    {
        using var response = await Client.AppsV1.CreateNamespacedDeploymentWithHttpMessagesAsync(
            deployment, ns, dryRun: "All", cancellationToken: Ct);
        return response.Response.Headers.TryGetValues("Warning", out var warnings) ? [.. warnings] : [];
    }

    /// <summary>A server-side dry run of a Pod: PodSecurity enforcement applies to pods, and refuses with 403.</summary>
    private Task<V1Pod> DryRunPodAsync(
        V1Pod pod, string ns) => Client.CoreV1.CreateNamespacedPodAsync(pod, ns, dryRun: "All", cancellationToken: Ct);

    private static V1Pod PodOf(V1Deployment deployment, string name) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, Labels = deployment.Spec.Template.Metadata?.Labels },
        Spec = deployment.Spec.Template.Spec,
    };

    /// <summary>A project that brings its own database and Redis (nothing to provision, nothing to drop afterwards).</summary>
    private async Task CreateProjectWithItsOwnConnectionsAsync(string ns)
    {
        await Client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = "psa-database" },
            StringData = new Dictionary<string, string>
            {
                ["api"] = "Host=db.example;Database=psa;Username=psa_api;Password=unused",
                ["owner"] = "Host=db.example;Database=psa;Username=psa_owner;Password=unused",
                ["maintenance"] = "Host=db.example;Database=psa;Username=psa_maint;Password=unused",
            },
        }, ns, cancellationToken: Ct);
        await Client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = "psa-redis" },
            StringData = new Dictionary<string, string> { ["uri"] = "redis.example:6379,user=psa,password=unused" },
        }, ns, cancellationToken: Ct);
        var project = new DialogueProject
        {
            Metadata = new V1ObjectMeta { Name = "psa", NamespaceProperty = ns },
            Spec = new DialogueProjectSpec
            {
                Database = new ConnectionSpec { SecretRef = new SecretKeyReference { Name = "psa-database" } },
                Redis = new ConnectionSpec { SecretRef = new SecretKeyReference { Name = "psa-redis" } },
                Search = new SearchSpec { Indexer = new SearchIndexerSpec { Mode = "external" }, Reindex = 1 },
            },
        };
        await Client.CustomObjects.CreateNamespacedCustomObjectAsync(
            project, DialogueProject.Group, DialogueProject.Version, ns, DialogueProject.Plural, cancellationToken: Ct);
    }

    private async Task<T> Eventually<T>(Func<Task<T>> read) where T : class
    {
        T? found = null;
        await EndToEnd.Eventually.UntilAsync(async () =>
        {
            try
            {
                found = await read();
                return true;
            }
            catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.NotFound)
            {
                return false;
            }
        }, "the object exists", TimeSpan.FromSeconds(60), () => fixture.OperatorLog, Ct);
        return found!;
    }
}
