using DialogueDb.Operator.Hosting;
using k8s;
using k8s.LeaderElection;
using k8s.LeaderElection.ResourceLock;

namespace DialogueDb.Operator.Kubernetes;

/// <summary>
/// Runs <paramref name="work"/> only while this replica holds the Lease. Losing the Lease ends the work and the
/// process (as controller-runtime does): a replica that might still act on stale leadership must not continue.
/// </summary>
internal sealed partial class LeaderElection(ILock @lock, LeaderElectionOptions options, ILogger logger)
{
    public bool IsLeader { get; private set; }

    /// <summary>
    /// Returns when leadership was lost (true) or <paramref name="cancellationToken"/> ended the wait or the work
    /// (false).
    /// </summary>
    public async Task<bool> RunAsync(Func<CancellationToken, Task> work, CancellationToken cancellationToken)
    {
        using var elector = new LeaderElector(new LeaderElectionConfig(@lock)
        {
            LeaseDuration = TimeSpan.FromSeconds(options.LeaseSeconds),
            RenewDeadline = TimeSpan.FromSeconds(options.RenewSeconds),
            RetryPeriod = TimeSpan.FromSeconds(options.RetrySeconds),
        });
        using var leading = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task? running = null;
        elector.OnStartedLeading += () =>
        {
            IsLeader = true;
            LogStarted(logger, @lock.Identity);
            running = Task.Run(() => work(leading.Token), leading.Token);
        };
        elector.OnStoppedLeading += () =>
        {
            IsLeader = false;
            leading.Cancel();
        };
        elector.OnError += ex => LogError(logger, ex.GetType().Name);

        try
        {
            await elector.RunUntilLeadershipLostAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shut down while waiting for (or holding) the Lease.
        }

        await leading.CancelAsync();
        if (running is not null)
        {
            try
            {
                await running;
            }
            catch (OperationCanceledException)
            {
            }
        }

        var lost = !cancellationToken.IsCancellationRequested;
        if (lost)
        {
            LogLost(logger, @lock.Identity);
        }

        return lost;
    }

    public static LeaseLock Lease(IKubernetes client, OperatorOptions options, string identity) =>
        new(client, options.OperatorNamespace!, options.LeaderElection.LeaseName, identity);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Identity} is the leader; starting the controller")]
    private static partial void LogStarted(ILogger logger, string identity);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Identity} lost leadership; stopping")]
    private static partial void LogLost(ILogger logger, string identity);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Leader election error: {Error}")]
    private static partial void LogError(ILogger logger, string error);
}
