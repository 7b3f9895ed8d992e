using DialogueDb.Operator.Hosting;
using DialogueDb.Operator.Kubernetes;
using DialogueDb.Operator.Resources;
using System.Text.Json.Nodes;
using k8s.LeaderElection.ResourceLock;
using Microsoft.Extensions.Logging.Abstractions;
using static DialogueDb.Operator.Tests.Reconciliation.OperatorHarness;

namespace DialogueDb.Operator.Tests.Reconciliation;

/// <summary>Every request the operator really makes is covered by <see cref="OperatorPermissions"/> (the chart's RBAC source).</summary>
public sealed class PermissionCoverageTests
{
    [Fact]
    public async Task EveryRequestOfAFullLifecycle_IsAllowedByTheDeclaredPermissions()
    {
        await using var harness = new OperatorHarness();
        var ct = TestContext.Current.CancellationToken;
        // The test's own writes bypass HTTP (Put/Edit), so every recorded request is the operator's.
        var project = new DialogueProject { Spec = new DialogueProjectSpec { DeletionPolicy = "Delete", ApiKeys = [new ApiKeySpec { Name = "a" }, new ApiKeySpec { Name = "b" }] } };
        project.Metadata.Name = "life";
        project.Metadata.NamespaceProperty = Namespace;
        harness.Api.Put(project);
        await harness.ReconciledAsync("life", "Progressing", "True");
        harness.Api.Edit(DialogueProject.GroupVersion, DialogueProject.KindName, Namespace, "life", p =>
        {
            p["spec"]!["replicas"] = 2;
            p["spec"]!["apiKeys"] = new JsonArray(new JsonObject { ["name"] = "a", ["rotation"] = 1 });
            p["spec"]!["encryption"] = new JsonObject { ["rotation"] = 1 };
        });
        await EventuallyAsync(() => harness.Object("policy/v1", "PodDisruptionBudget", "life-api") is not null && harness.Secret("life-key-b") is null, "scaled up, key b revoked");
        harness.Api.Edit(DialogueProject.GroupVersion, DialogueProject.KindName, Namespace, "life", p => p["spec"]!["replicas"] = 1);
        await EventuallyAsync(() => harness.Object("policy/v1", "PodDisruptionBudget", "life-api") is null, "the budget is removed");
        harness.Api.Remove(DialogueProject.GroupVersion, DialogueProject.KindName, Namespace, "life");
        await EventuallyAsync(() => harness.Project("life") is null, "the project is finalized");

        using var leaseClient = harness.Api.CreateClient();
        var election = new LeaderElection(new LeaseLock(leaseClient, "ops", "lease", "me"), new LeaderElectionOptions { LeaseSeconds = 3, RenewSeconds = 2, RetrySeconds = 1 }, NullLogger.Instance);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var led = new TaskCompletionSource();
        var running = election.RunAsync(async token => { led.TrySetResult(); await Task.Delay(Timeout.Infinite, token); }, stop.Token);
        await led.Task.WaitAsync(TimeSpan.FromSeconds(20), ct);
        await stop.CancelAsync();
        await running;

        var used = harness.Api.Requests.Select(Permission).Distinct().ToList();
        var uncovered = used.Where(p => !OperatorPermissions.Allows(p.Group, p.Resource, p.Verb)).ToList();

        Assert.Empty(uncovered);
        foreach (var expected in new[] { ("", "secrets", "delete"), ("policy", "poddisruptionbudgets", "delete"), ("dialoguedb.io", "dialogueprojects/status", "patch"), ("coordination.k8s.io", "leases", "create"), ("", "events", "create") })
        {
            Assert.Contains(expected, used);
        }
    }

    /// <summary>The RBAC (group, resource, verb) a request needs, from its method and path.</summary>
    private static (string Group, string Resource, string Verb) Permission(Fakes.RecordedRequest request)
    {
        var parts = request.Path.Trim('/').Split('/');
        var (group, rest) = parts[0] == "api" ? ("", parts[2..]) : (parts[1], parts[3..]);
        if (rest.Length > 0 && rest[0] == "namespaces" && rest.Length > 2)
        {
            rest = rest[2..];
        }

        var resource = rest.Length > 2 ? $"{rest[0]}/{rest[2]}" : rest[0];
        var named = rest.Length > 1;
        var verb = request.Method switch
        {
            "GET" when !named && request.Query.Contains("watch=true", StringComparison.Ordinal) => "watch",
            "GET" => named ? "get" : "list",
            "POST" => "create",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => request.Method,
        };
        return (group, resource, verb);
    }
}
