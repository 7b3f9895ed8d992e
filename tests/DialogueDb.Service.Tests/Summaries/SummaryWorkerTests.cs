using System.Text.Json.Nodes;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using DialogueDb.Service.Summaries;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace DialogueDb.Service.Tests.Summaries;

/// <summary>
/// The durable summary queue with workers the tests control (the service's own worker is off): a worker that dies
/// mid-job leaves its job to another after the lease, transient failures are retried, and every job ends completed or
/// failed with an error code, with at most the configured number of jobs at once.
/// </summary>
public abstract class SummaryWorkerTests(string engine)
{
    private static readonly string[] Conversation =
    [
        "The release of version 2.4 is planned for Thursday afternoon.",
        "Marta will prepare the release notes and the migration guide.",
        "The database migration must run before the new workers start.",
        "If the migration fails, we roll back to version 2.3 at once.",
    ];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Worker_KilledMidJob_JobReclaimedAfterLeaseAndCompleted()
    {
        await using var host = await StartAsync();
        var id = await host.SummarizeAsync(await host.CreateDialogueAsync(Conversation));
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // The first worker hangs inside the job and never runs another line of it: as a killed process, it neither
        // finishes nor gives the job back (it ignores cancellation too).
        var hung = new ScriptedSummarizer(async (_, _, _) =>
        {
            started.TrySetResult();
            await release.Task;
            return new SummaryText("stale result of the dead worker", "dead");
        });
        var lease = TimeSpan.FromMinutes(2);
        using var dead = Worker(host, hung, TimeProvider.System, lease);
        await dead.StartAsync(Ct);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(60), Ct);

        // A second worker (another replica) does not take the job while the lease holds…
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var extractive = new ScriptedSummarizer((_, input, ct) => new ExtractiveSummarizer(null).SummarizeAsync(input, ct));
        using var survivor = Worker(host, extractive, clock, lease);
        await survivor.StartAsync(Ct);
        await Task.Delay(TimeSpan.FromSeconds(2), Ct);
        Assert.Equal(0, extractive.Calls);
        Assert.Equal("processing", (string)(await host.SendAsync(HttpMethod.Get, $"api/v1/summary/{id}")).Body["status"]!);

        // …and claims it once the lease has run out, and completes it.
        clock.Advance(lease + TimeSpan.FromSeconds(1));
        var done = await host.WaitFinishedAsync(id);
        Assert.Equal("completed", (string)done["status"]!);
        Assert.Contains("migration", (string)done["content"]!, StringComparison.Ordinal);
        Assert.Equal(1, extractive.Calls);
        Assert.Equal(1, hung.Calls);
        Assert.Equal(0, await JobsLeftAsync(host));

        // The dead worker coming back cannot overwrite the result: its claim is gone.
        release.SetResult();
        await WaitAsync(() => dead.Running == 0);
        var after = (await host.SendAsync(HttpMethod.Get, $"api/v1/summary/{id}")).Body;
        Assert.Equal((string)done["content"]!, (string)after["content"]!);
        await dead.StopAsync(Ct);
        await survivor.StopAsync(Ct);
    }

    [Fact]
    public async Task Worker_TransientFailure_RetriedThenCompleted()
    {
        await using var host = await StartAsync();
        var id = await host.SummarizeAsync(await host.CreateDialogueAsync(Conversation));
        var flaky = new ScriptedSummarizer((call, _, _) => call == 1
            ? throw new SummaryFailure(SummaryFailure.ProviderUnavailable, "The summary provider answered 503", transient: true)
            : Task.FromResult(new SummaryText("second try", "scripted")));
        using var worker = Worker(host, flaky, TimeProvider.System, TimeSpan.FromMinutes(1));
        await worker.StartAsync(Ct);

        var done = await host.WaitFinishedAsync(id);

        Assert.Equal("completed", (string)done["status"]!);
        Assert.Equal("second try", (string)done["content"]!);
        Assert.Equal("scripted", (string)done["model"]!);
        Assert.Equal(2, flaky.Calls);
        await worker.StopAsync(Ct);
    }

    [Fact]
    public async Task Worker_PermanentOrRepeatedFailure_EndsFailedWithErrorCode()
    {
        await using var host = await StartAsync();
        var rejectedId = await host.SummarizeAsync(await host.CreateDialogueAsync("Please summarise this later on."));
        var unavailableId = await host.SummarizeAsync(await host.CreateDialogueAsync("Another dialogue to summarise here."));
        var failing = new ScriptedSummarizer((_, input, _) => input.Lines[0].Text.StartsWith("Please", StringComparison.Ordinal)
            ? throw new SummaryFailure(SummaryFailure.ProviderRejected, "The summary provider refused the request (401)", transient: false)
            : throw new SummaryFailure(SummaryFailure.ProviderUnavailable, "The summary provider answered 502", transient: true));
        using var worker = Worker(host, failing, TimeProvider.System, TimeSpan.FromMinutes(1), maxAttempts: 3);
        await worker.StartAsync(Ct);

        var rejected = await host.WaitFinishedAsync(rejectedId);
        var unavailable = await host.WaitFinishedAsync(unavailableId);

        Assert.Equal("failed", (string)rejected["status"]!);
        Assert.Equal("PROVIDER_REJECTED", (string)rejected["error"]!["code"]!);
        Assert.Equal("failed", (string)unavailable["status"]!);
        Assert.Equal("PROVIDER_UNAVAILABLE", (string)unavailable["error"]!["code"]!);
        Assert.Null(unavailable["content"]);
        Assert.Equal(1 + 3, failing.Calls);
        Assert.Equal(0, await JobsLeftAsync(host));
        await worker.StopAsync(Ct);
    }

    [Fact]
    public async Task Worker_ManyJobs_AllCompleteWithinTheConcurrencyBound()
    {
        await using var host = await StartAsync();
        var dialogue = await host.CreateDialogueAsync(Conversation);
        var ids = new List<string>();
        for (var i = 0; i < 8; i++)
        {
            ids.Add(await host.SummarizeAsync(dialogue));
        }

        var slow = new ScriptedSummarizer(async (call, _, ct) =>
        {
            await Task.Delay(TimeSpan.FromMilliseconds(150), ct);
            return new SummaryText($"summary {call}", "scripted");
        });
        using var worker = Worker(host, slow, TimeProvider.System, TimeSpan.FromMinutes(1), concurrency: 3);
        await worker.StartAsync(Ct);

        foreach (var id in ids)
        {
            Assert.Equal("completed", (string)(await host.WaitFinishedAsync(id))["status"]!);
        }

        Assert.Equal(8, slow.Calls);
        Assert.InRange(slow.MostInFlight, 1, 3);
        Assert.InRange(worker.MostRunning, 1, 3);
        await worker.StopAsync(Ct);
    }

    [Fact]
    public async Task Summaries_OverPlanLimit_429WhileReadsAndDeletesWork()
    {
        await using var host = await StartAsync(p => p with { Limits = new LimitOverrides { MessagesPerMonth = 3 } });
        var dialogue = await host.CreateDialogueAsync("First message of the month.", "Second message of the month.");
        var id = await host.SummarizeAsync(dialogue);
        var (added, _) = await host.SendAsync(HttpMethod.Post, $"api/v1/message?dialogueId={dialogue}", new { role = "user", content = "Third." });
        Assert.Equal(System.Net.HttpStatusCode.OK, added);

        var (status, body) = await host.SendAsync(HttpMethod.Post, "api/v1/summary", new { dialogueId = dialogue });

        Assert.Equal(System.Net.HttpStatusCode.TooManyRequests, status);
        Assert.Equal("PLAN_LIMIT_EXCEEDED", (string)body["error"]!["code"]!);
        Assert.Equal("rate_limit", (string)body["error"]!["type"]!);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await host.SendAsync(HttpMethod.Get, $"api/v1/summary/{id}")).Status);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await host.SendAsync(HttpMethod.Get, $"api/v1/summaries?dialogueId={dialogue}")).Status);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await host.SendAsync(HttpMethod.Delete, $"api/v1/summary/{id}")).Status);
    }

    private Task<SummaryTestHost> StartAsync(Func<ProjectDocument, ProjectDocument>? policy = null) =>
        SummaryTestHost.StartAsync(engine, policy, options => options.SummaryConcurrency = 0);

    private static SummaryWorker Worker(SummaryTestHost host, ISummarizer summarizer, TimeProvider time, TimeSpan lease,
        int concurrency = 2, int maxAttempts = 5)
    {
        var services = host.Host.Services;
        var protector = services.GetRequiredService<ContentProtector>();
        var jobs = new SummaryJobs(MaintenanceDatabase.Open(host.Options).NewContext, protector, services.GetRequiredService<AuditOutbox>(), time);
        var runner = new SummaryRunner(jobs.NewContext, protector, services.GetRequiredService<ProjectPolicy>(), _ => summarizer);
        var settings = new SummaryWorkerSettings(concurrency, lease, maxAttempts) { FirstBackoff = TimeSpan.Zero };
        return new SummaryWorker(jobs, runner, new SummarySignal(), settings, time, NullLogger<SummaryWorker>.Instance);
    }

    private static async Task<int> JobsLeftAsync(SummaryTestHost host)
    {
        await using var db = MaintenanceDatabase.Open(host.Options).NewContext();
        return await db.SummaryJobs.IgnoreQueryFilters().CountAsync(Ct);
    }

    private static async Task WaitAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met before the deadline");
            await Task.Delay(50, Ct);
        }
    }
}

public sealed class SummaryWorkerTestsSqlite() : SummaryWorkerTests("sqlite");

public sealed class SummaryWorkerTestsPostgres() : SummaryWorkerTests("postgres");
