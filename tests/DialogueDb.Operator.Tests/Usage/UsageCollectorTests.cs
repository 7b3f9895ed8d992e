using System.Diagnostics.Metrics;
using DialogueDb.Operator.Hosting;
using DialogueDb.Operator.Provisioning;
using DialogueDb.Operator.Tests.Reconciliation;
using DialogueDb.Operator.Usage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using static DialogueDb.Operator.Tests.Reconciliation.OperatorHarness;

namespace DialogueDb.Operator.Tests.Usage;

/// <summary>
/// Issue #17 §3 on the fake API server: the collector turns what the pods published into status.usage, writes only
/// changes with its own field manager, and the reconciler's status writes leave the field alone.
/// </summary>
public sealed class UsageCollectorTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 3, 17, 50, 0, TimeSpan.Zero);

    private static string Published(long dialogues, long messages, long memories, long requests, string countedAt = "2026-12-03T17:50:00Z") =>
        $$"""{"period":"2026-12","countedAt":"{{countedAt}}","dialogues":{{dialogues}},"memories":{{memories}},"messages":{{messages}},"requests":{{requests}}}""";

    private static string Key(string name) => ProjectIdentity.For(Namespace, name).RedisKeyPrefix + "usage";

    /// <summary>Waits until the controller's watch cache (what the collector reads) has the project's effective plan.</summary>
    private static Task CachedAsync(OperatorHarness harness, string name) => EventuallyAsync(
        () => harness.Controller.Projects.Any(p => p.Metadata.Name == name && p.Status?.Effective is not null),
        $"the watch cache has the status of {name}");

    [Fact]
    public async Task Interval_PublishedUsage_BecomesTheStatusWithThePlansLimits()
    {
        var time = new FakeTimeProvider(Now);
        await using var harness = new OperatorHarness(
            new OperatorOptions { LeaderElection = { Enabled = false }, ResyncSeconds = 3600, UsageSeconds = 60 }, time);
        await harness.CreateAsync("metered");
        await harness.ReconciledAsync("metered", "Progressing", "True");
        harness.RollOut("metered");
        await harness.ReconciledAsync("metered");
        await CachedAsync(harness, "metered");   // the collector reads the watch cache, which may lag the API under load
        harness.Infrastructure.PublishedUsage[Key("metered")] = Published(dialogues: 87, messages: 120, memories: 3, requests: 40);

        time.Advance(TimeSpan.FromSeconds(60));

        await EventuallyAsync(() => harness.Project("metered")?.Status?.Usage is not null, "status.usage is written");
        var usage = harness.Project("metered")!.Status!.Usage!;
        Assert.Equal("2026-12", usage.Period);
        Assert.Equal(new DateTime(2026, 12, 3, 17, 50, 0, DateTimeKind.Utc), usage.CountedAt);
        Assert.Equal((87L, 100L), (usage.Dialogues!.Used!.Value, usage.Dialogues.Limit!.Value));
        Assert.Equal((120L, 10_000L), (usage.Messages!.Used!.Value, usage.Messages.Limit!.Value));
        Assert.Equal((3L, 1_000L), (usage.Memories!.Used!.Value, usage.Memories.Limit!.Value));
        Assert.Equal((40L, 100_000L), (usage.Requests!.Used!.Value, usage.Requests.Limit!.Value));
        Assert.Equal("87%", usage.Highest);
        // Its own field manager, on the status subresource, with only the usage in the body.
        var requests = harness.Api.Requests;
        var write = requests.SingleOrDefault(r => r.Query.Contains("fieldManager=" + ProjectUsageCollector.FieldManager, StringComparison.Ordinal));
        Assert.True(write is not null, string.Join("\n", requests.Select(r => $"{r.Method} {r.Path}?{r.Query}")));
        Assert.Equal(("PATCH", true), (write.Method, write.Path.EndsWith("/metered/status", StringComparison.Ordinal)));
        var status = System.Text.Json.Nodes.JsonNode.Parse(write.Body ?? "{}")?["status"];
        Assert.True(status is System.Text.Json.Nodes.JsonObject, write.Body);
        Assert.Equal(["usage"], status.AsObject().Select(p => p.Key));
    }

    [Fact]
    public async Task Collect_SameNumbersRepublished_NoWrite_ChangedNumbers_OneWrite()
    {
        await using var harness = new OperatorHarness();
        await harness.CreateAsync("steady");
        await harness.ReconciledAsync("steady", "Progressing", "True");
        await CachedAsync(harness, "steady");
        var collector = harness.Services.GetRequiredService<ProjectUsageCollector>();
        using var metrics = new RecordedMetrics(harness.Services.GetRequiredService<IMeterFactory>());
        harness.Infrastructure.PublishedUsage[Key("steady")] = Published(1, 2, 0, 5);

        Assert.Equal(1, await collector.CollectAsync(harness.Controller.Projects, TestContext.Current.CancellationToken));
        await EventuallyAsync(() => harness.Controller.Projects.Single().Status?.Usage is not null, "the watch cache has the usage");

        // The pods count again every minute: a new time with the same numbers is not worth a write.
        harness.Infrastructure.PublishedUsage[Key("steady")] = Published(1, 2, 0, 5, countedAt: "2026-12-03T17:51:00Z");
        Assert.Equal(0, await collector.CollectAsync(harness.Controller.Projects, TestContext.Current.CancellationToken));

        harness.Infrastructure.PublishedUsage[Key("steady")] = Published(1, 2, 0, 6, countedAt: "2026-12-03T17:52:00Z");
        Assert.Equal(1, await collector.CollectAsync(harness.Controller.Projects, TestContext.Current.CancellationToken));
        Assert.Equal(6L, harness.Project("steady")!.Status!.Usage!.Requests!.Used);
        Assert.Equal(2, metrics.Sum("dialoguedb_operator_usage_updates"));
        Assert.Equal(3, metrics.Sum("dialoguedb_operator_usage_reads", ("result", "success")));
    }

    [Fact]
    public async Task Reconcile_AfterTheUsageWrite_KeepsTheUsage_AndTheUsageWriteKeepsTheConditions()
    {
        await using var harness = new OperatorHarness();
        await harness.CreateAsync("shared");
        await harness.ReconciledAsync("shared", "Progressing", "True");
        await CachedAsync(harness, "shared");
        var collector = harness.Services.GetRequiredService<ProjectUsageCollector>();
        harness.Infrastructure.PublishedUsage[Key("shared")] = Published(10, 0, 0, 1);
        await collector.CollectAsync(harness.Controller.Projects, TestContext.Current.CancellationToken);
        Assert.Equal("Progressing", harness.Project("shared")!.Status!.Conditions!.Single(c => c.Status == "True").Type);

        // The reconciler writes its status (Ready now) from a copy that may predate the usage: the usage stays.
        harness.RollOut("shared");
        await harness.ReconciledAsync("shared");
        var status = harness.Project("shared")!.Status!;
        Assert.Equal(10L, status.Usage!.Dialogues!.Used);
        Assert.Equal("10%", status.Usage.Highest);
        Assert.Equal("free", status.Effective!.Plan);
    }

    [Fact]
    public async Task Collect_NothingPublished_OrGarbage_OrRedisDown_NoUsageAndNoError()
    {
        await using var harness = new OperatorHarness();
        await harness.CreateAsync("quiet");
        await harness.CreateAsync("noisy");
        await harness.ReconciledAsync("quiet", "Progressing", "True");
        await harness.ReconciledAsync("noisy", "Progressing", "True");
        await CachedAsync(harness, "quiet");
        await CachedAsync(harness, "noisy");
        var collector = harness.Services.GetRequiredService<ProjectUsageCollector>();
        using var metrics = new RecordedMetrics(harness.Services.GetRequiredService<IMeterFactory>());
        harness.Infrastructure.PublishedUsage[Key("noisy")] = """{"period":"2026-12","countedAt":"now","requests":"<script>"}""";

        Assert.Equal(0, await collector.CollectAsync(harness.Controller.Projects, TestContext.Current.CancellationToken));

        harness.Infrastructure.UsageFailure = new TimeoutException("Redis did not answer");
        Assert.Equal(0, await collector.CollectAsync(harness.Controller.Projects, TestContext.Current.CancellationToken));
        Assert.Null(harness.Project("quiet")!.Status!.Usage);
        Assert.Null(harness.Project("noisy")!.Status!.Usage);
        Assert.Equal(1, metrics.Sum("dialoguedb_operator_usage_reads", ("result", "error")));
    }

    [Fact]
    public async Task Collect_ProjectOnItsOwnRedis_NotRead_TheOthersAre()
    {
        await using var harness = new OperatorHarness();
        harness.Api.Put(new k8s.Models.V1Secret
        {
            ApiVersion = "v1", Kind = "Secret",
            Metadata = new k8s.Models.V1ObjectMeta { Name = "their-redis", NamespaceProperty = Namespace },
            Data = new Dictionary<string, byte[]> { ["uri"] = "redis://their-redis:6379"u8.ToArray() },
        });
        await harness.CreateAsync("own-redis", spec => spec.Redis = new DialogueDb.Operator.Resources.ConnectionSpec
        {
            SecretRef = new DialogueDb.Operator.Resources.SecretKeyReference { Name = "their-redis" },
        });
        await harness.CreateAsync("shared-redis");
        await CachedAsync(harness, "own-redis");
        await CachedAsync(harness, "shared-redis");
        harness.Infrastructure.PublishedUsage[Key("own-redis")] = Published(1, 1, 1, 1);
        harness.Infrastructure.PublishedUsage[Key("shared-redis")] = Published(2, 2, 2, 2);
        var collector = harness.Services.GetRequiredService<ProjectUsageCollector>();

        // The operator's admin connection is to the shared Redis: a key of that name there is not the project's.
        Assert.Equal(1, await collector.CollectAsync(harness.Controller.Projects, TestContext.Current.CancellationToken));
        Assert.Null(harness.Project("own-redis")!.Status!.Usage);
        Assert.Equal(2L, harness.Project("shared-redis")!.Status!.Usage!.Dialogues!.Used);
    }
}
