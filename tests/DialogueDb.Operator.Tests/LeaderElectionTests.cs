using System.Globalization;
using DialogueDb.Operator.Hosting;
using DialogueDb.Operator.Kubernetes;
using DialogueDb.Operator.Tests.Fakes;
using DialogueDb.Operator.Tests.Reconciliation;
using k8s.LeaderElection.ResourceLock;
using Microsoft.Extensions.Logging.Abstractions;

namespace DialogueDb.Operator.Tests;

public sealed class LeaderElectionTests
{
    private static readonly LeaderElectionOptions Fast = new() { LeaseSeconds = 3, RenewSeconds = 2, RetrySeconds = 1 };

    [Fact]
    public async Task OneLeader_OtherStandsBy_LosingTheLeaseStopsTheWork()
    {
        var api = new FakeKubeApi();
        using var clientA = api.CreateClient();
        using var clientB = api.CreateClient();
        var a = new LeaderElection(new LeaseLock(clientA, "ops", "dialoguedb-operator", "a"), Fast, NullLogger.Instance);
        var b = new LeaderElection(new LeaseLock(clientB, "ops", "dialoguedb-operator", "b"), Fast, NullLogger.Instance);
        var aStarted = new TaskCompletionSource();
        var aStopped = new TaskCompletionSource();
        var bStarted = false;
        using var stopB = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);

        var runA = a.RunAsync(async ct =>
        {
            aStarted.SetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            finally
            {
                aStopped.SetResult();
            }
        }, TestContext.Current.CancellationToken);
        await aStarted.Task.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
        var runB = b.RunAsync(ct => { bStarted = true; return Task.Delay(Timeout.Infinite, ct); }, stopB.Token);
        // Not a fixed sleep: the leader renews every retry period, and so does the candidate try; once a has renewed the
        // Lease three times after b started, b has had its tries against a held Lease.
        var renewals = new HashSet<string>(StringComparer.Ordinal);
        await OperatorHarness.EventuallyAsync(() =>
        {
            var lease = api.Get("coordination.k8s.io/v1", "Lease", "ops", "dialoguedb-operator");
            var renewTime = lease?["spec"]?["renewTime"]?.GetValue<string>();
            return renewTime is not null && renewals.Add(renewTime) && renewals.Count > 3;
        }, "a renews the Lease three times while b stands by");

        Assert.True(a.IsLeader);
        Assert.False(bStarted);

        // Someone else holds the Lease now (e.g. a's renewals were lost in a partition): a must stop at once.
        api.Edit("coordination.k8s.io/v1", "Lease", "ops", "dialoguedb-operator", lease =>
        {
            lease["spec"]!["holderIdentity"] = "c";
            lease["spec"]!["renewTime"] = DateTime.UtcNow.AddSeconds(30).ToString("yyyy-MM-ddTHH:mm:ss.ffffffZ", CultureInfo.InvariantCulture);
            lease["spec"]!["leaseDurationSeconds"] = 60;
        });
        var lost = await runA.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);

        Assert.True(lost);
        Assert.True(aStopped.Task.IsCompleted);
        Assert.False(a.IsLeader);
        await stopB.CancelAsync();
        Assert.False(await runB.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken));
    }
}
