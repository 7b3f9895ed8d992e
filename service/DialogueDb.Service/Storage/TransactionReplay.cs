using DialogueDb.Service.Telemetry;
using Npgsql;

namespace DialogueDb.Service.Storage;

/// <summary>
/// Runs a PostgreSQL transaction again, whole, when the server rolled it back for a deadlock (40P01) or a serialization
/// failure (40001): after either nothing of it was committed, and the same transaction run again usually succeeds.
/// Only for work that is replayable: everything it writes is inside the one transaction it opens, and nothing leaves
/// the process (no event nudged, no answer started) before the commit. After <see cref="MaxAttempts"/> the failure goes
/// on as before (<see cref="TransientDatabaseFailures"/>: 503 with Retry-After). The success path costs nothing more
/// than the call: no round trip, no savepoint.
/// </summary>
internal sealed partial class TransactionReplay(TimeProvider time, ILogger<TransactionReplay> logger, ServiceMetrics? metrics)
{
    /// <summary>The first run and up to two replays.</summary>
    public const int MaxAttempts = 3;

    /// <summary>The pause before the first replay (jittered between half and all of it); it doubles before each next one.</summary>
    internal static readonly TimeSpan FirstPause = TimeSpan.FromMilliseconds(20);

    /// <summary>Runs <paramref name="transaction"/>, and again after a deadlock or serialization failure, up to <see cref="MaxAttempts"/> times.</summary>
    public async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> transaction, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await transaction(ct);
            }
            catch (PostgresException ex) when (attempt < MaxAttempts && IsReplayable(ex.SqlState))
            {
                // The SQLSTATE only: the exception's message and detail can quote the rows' values.
                LogReplay(logger, ex.SqlState, attempt, MaxAttempts);
                metrics?.TransactionReplayed(ex.SqlState);
                await Task.Delay(Pause(attempt), time, ct);
            }
        }
    }

    /// <summary>Deadlock and serialization failure: PostgreSQL rolled the whole transaction back and asks for it again.</summary>
    internal static bool IsReplayable(string sqlState) =>
        sqlState is PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure;

    /// <summary>
    /// Between half and all of <see cref="FirstPause"/> doubled per earlier attempt: the two sides of a deadlock do not
    /// come back at the same moment and meet again.
    /// </summary>
    internal static TimeSpan Pause(int attempt)
    {
        var ceiling = FirstPause * (1 << (attempt - 1));
        return ceiling * (0.5 + (Random.Shared.NextDouble() / 2));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Transaction rolled back by the database ({SqlState}); replaying it (attempt {Attempt} of {MaxAttempts})")]
    private static partial void LogReplay(ILogger logger, string sqlState, int attempt, int maxAttempts);
}
