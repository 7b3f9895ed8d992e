using System.Net;
using DialogueDb.Service.Tests.Conformance;
using DialogueDb.Service.Tests.Infrastructure;
using Npgsql;

namespace DialogueDb.Service.Tests.Storage;

/// <summary>
/// A transaction PostgreSQL rolls back for reasons of its own (a real deadlock with another transaction, a serialization
/// failure, a lock not available, an administrator ending the connection) answers 503 SERVICE_UNAVAILABLE with
/// Retry-After in the envelope, never 500: nothing of the request is saved, the log has one line without a stack trace,
/// the failure is counted, and the same request sent again succeeds. The other transaction is an administrator's
/// connection of the test; the failures that need no second transaction are raised by a trigger the test adds. And the
/// deadlock the service caused itself is gone: a DELETE takes a summary's job before the summary, as the worker does.
/// </summary>
public sealed class TransientDatabaseFailureTests(TransientDatabaseFailureTests.Fixture api)
    : ConformanceTest(api), IClassFixture<TransientDatabaseFailureTests.Fixture>
{
    /// <summary>
    /// The service's role detects deadlocks after 2 s (PostgreSQL's default is 1 s), the test's connection after 60 s:
    /// the service's transaction is the one rolled back, and the test has 2 s to close the cycle once it sees the
    /// service's transaction waiting (a check that finds no cycle yet is not repeated).
    /// </summary>
    public sealed class Fixture : PostgresApiFixture
    {
        protected override async ValueTask<string?> PrepareStorageAsync()
        {
            var connectionString = await base.PrepareStorageAsync();
            if (connectionString is not null)
            {
                await using var admin = new NpgsqlConnection(Database.AdminConnectionString);
                await admin.OpenAsync();
                await using var command = new NpgsqlCommand($"ALTER ROLE \"{Database.AppRole}\" SET deadlock_timeout = '2s'", admin);
                await command.ExecuteNonQueryAsync();
            }

            return connectionString;
        }
    }

    private TestDatabase Database => ((PostgresApiFixture)Api).Database;

    [Fact]
    public async Task Deadlock_WithAnotherTransaction_Answers503_NothingDeleted_SentAgainSucceeds()
    {
        var ns = NewNamespace();
        var root = Str((await PostAsync($"api/v1/dialogue?namespace={ns}",
            new { messages = new[] { new { role = "user", content = "hi" } } })).Expect(HttpStatusCode.OK).Object["id"]);
        var thread = Str((await PostAsync($"api/v1/dialogue?namespace={ns}", new { threadOf = root }))
            .Expect(HttpStatusCode.OK).Object["id"]);
        using var failures = new CounterByReason(Api.Services, CounterByReason.TransientFailures);

        await using var other = await OpenAdminAsync();
        await using (var tx = await other.BeginTransactionAsync(Ct))
        {
            await ExecuteAsync(other, "SET LOCAL deadlock_timeout = '60s'");
            // The other transaction holds the thread; the DELETE locks the root and then waits for the thread.
            await ExecuteAsync(other, "UPDATE dialogues SET modified = modified WHERE namespace = $1 AND id = $2", ns, thread);
            var delete = DeleteAsync($"api/v1/dialogue/{root}?namespace={ns}");
            await WaitForAWaitingServiceTransactionAsync(other);
            // Now the other transaction waits for the root: a cycle, which the service's side detects first.
            var closing = ExecuteAsync(other, "UPDATE dialogues SET modified = modified WHERE namespace = $1 AND id = $2", ns, root);

            var answer = await delete;
            AssertUnavailable(answer);
            await closing; // the service's transaction rolled back: the other got the root
            await tx.RollbackAsync(Ct);
        }

        // Nothing was deleted: the root with its message and its thread are there.
        var kept = (await GetAsync($"api/v1/dialogue/{root}?namespace={ns}")).Expect(HttpStatusCode.OK).Object;
        Assert.Equal(1, Num(kept["totalMessages"]));
        Assert.Equal(1, Num(kept["threadCount"]));
        (await GetAsync($"api/v1/dialogue/{thread}?namespace={ns}")).Expect(HttpStatusCode.OK);
        Assert.Equal(1, failures.Of("40P01"));
        AssertLoggedWithoutStackTrace("40P01");

        (await DeleteAsync($"api/v1/dialogue/{root}?namespace={ns}")).Expect(HttpStatusCode.OK);
        (await GetAsync($"api/v1/dialogue/{thread}?namespace={ns}")).Expect(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND");
    }

    [Fact]
    public async Task ConnectionEndedByAnAdministrator_WhileWaitingForALock_Answers503_NothingChanged_SentAgainSucceeds()
    {
        var ns = NewNamespace();
        var id = Str((await PostAsync($"api/v1/dialogue?namespace={ns}", new { label = "before" })).Expect(HttpStatusCode.OK).Object["id"]);
        using var failures = new CounterByReason(Api.Services, CounterByReason.TransientFailures);

        await using var other = await OpenAdminAsync();
        await using (var tx = await other.BeginTransactionAsync(Ct))
        {
            await ExecuteAsync(other, "UPDATE dialogues SET modified = modified WHERE namespace = $1 AND id = $2", ns, id);
            var update = PutAsync($"api/v1/dialogue/{id}?namespace={ns}", new { label = "after" });
            var waiting = await WaitForAWaitingServiceTransactionAsync(other);
            await ExecuteAsync(other, "SELECT pg_terminate_backend($1)", waiting);

            AssertUnavailable(await update);
            await tx.RollbackAsync(Ct);
        }

        Assert.Equal("before", Str((await GetAsync($"api/v1/dialogue/{id}?namespace={ns}")).Expect(HttpStatusCode.OK).Object["label"]));
        Assert.Equal(1, failures.Of("57P01"));
        AssertLoggedWithoutStackTrace("57P01");

        (await PutAsync($"api/v1/dialogue/{id}?namespace={ns}", new { label = "after" })).Expect(HttpStatusCode.OK);
        Assert.Equal("after", Str((await GetAsync($"api/v1/dialogue/{id}?namespace={ns}")).Expect(HttpStatusCode.OK).Object["label"]));
    }

    [Theory]
    [InlineData("summary/{summary}")]
    [InlineData("dialogue/{dialogue}")]
    public async Task Delete_WhileTheSummaryWorkerFinishesItsJob_WaitsForItWithoutADeadlock(string route)
    {
        var ns = NewNamespace();
        var dialogue = Str((await PostAsync($"api/v1/dialogue?namespace={ns}",
            new { messages = new[] { new { role = "user", content = "hi" } } })).Expect(HttpStatusCode.OK).Object["id"]);
        var summary = Str((await PostAsync($"api/v1/summary?namespace={ns}", new { dialogueId = dialogue }))
            .Expect(HttpStatusCode.Accepted).Object["id"]);
        using var failures = new CounterByReason(Api.Services, CounterByReason.TransientFailures);

        await using var worker = await OpenAdminAsync();
        await using (var tx = await worker.BeginTransactionAsync(Ct))
        {
            // What the worker does when it finishes: end its job (the job's row), then store the summary (its row).
            Assert.Equal(1L, await ExecuteAsync(worker, "DELETE FROM summary_jobs WHERE namespace = $1 AND summary_id = $2", ns, summary));
            var delete = DeleteAsync($"api/v1/{route.Replace("{summary}", summary, StringComparison.Ordinal)
                .Replace("{dialogue}", dialogue, StringComparison.Ordinal)}?namespace={ns}");
            await WaitForAWaitingServiceTransactionAsync(worker);
            // The DELETE waits for the job and holds no summary: the worker gets its summary at once.
            Assert.Equal(1L, await ExecuteAsync(worker, "UPDATE summaries SET modified = modified + 1 WHERE namespace = $1 AND id = $2",
                ns, summary));
            await tx.CommitAsync(Ct);

            (await delete).Expect(HttpStatusCode.OK);
        }

        (await GetAsync($"api/v1/summary/{summary}?namespace={ns}")).Expect(HttpStatusCode.NotFound, "SUMMARY_NOT_FOUND");
        Assert.Equal(0, failures.Of("40P01"));
    }

    [Theory]
    [InlineData("40001")] // serialization_failure
    [InlineData("55P03")] // lock_not_available
    [InlineData("40P01")] // deadlock_detected
    public async Task FailureRaisedLateInTheWrite_Answers503_NothingOfItSaved_SentAgainSucceeds(string sqlState)
    {
        var ns = NewNamespace();
        using var failures = new CounterByReason(Api.Services, CounterByReason.TransientFailures);
        var trigger = "fail_" + ns.Replace('-', '_');
        await using var admin = await OpenAdminAsync();
        // The outbox row is the last thing a dialogue's creation writes: by then the dialogue, its messages and the
        // quota count are written in the same transaction.
        await ExecuteAsync(admin, $"""
            CREATE FUNCTION {trigger}() RETURNS trigger LANGUAGE plpgsql AS $fn$
            BEGIN
                IF NEW.namespace = '{ns}' THEN RAISE EXCEPTION 'injected' USING ERRCODE = '{sqlState}'; END IF;
                RETURN NEW;
            END $fn$;
            CREATE TRIGGER {trigger} BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION {trigger}();
            """);
        try
        {
            AssertUnavailable(await PostAsync($"api/v1/dialogue?namespace={ns}",
                new { id = "d1", messages = new[] { new { role = "user", content = "hi" } } }));
        }
        finally
        {
            await ExecuteAsync(admin, $"DROP TRIGGER {trigger} ON outbox; DROP FUNCTION {trigger}();");
        }

        (await GetAsync($"api/v1/dialogue/d1?namespace={ns}")).Expect(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND");
        Assert.Equal(0L, await ScalarAsync(admin, "SELECT count(*) FROM messages WHERE namespace = $1", ns));
        Assert.Equal(1, failures.Of(sqlState));
        AssertLoggedWithoutStackTrace(sqlState);

        var created = (await PostAsync($"api/v1/dialogue?namespace={ns}",
            new { id = "d1", messages = new[] { new { role = "user", content = "hi" } } })).Expect(HttpStatusCode.OK).Object;
        Assert.Equal(1, Num(created["totalMessages"]));
    }

    private static void AssertUnavailable(ApiResponse answer)
    {
        answer.Expect(HttpStatusCode.ServiceUnavailable, "SERVICE_UNAVAILABLE");
        Assert.Equal("service_unavailable", answer.ErrorType);
        Assert.Equal("1", answer.Headers["Retry-After"]);
        Assert.Equal(answer.Headers["X-Request-Id"], Str(answer.Object["error"]!["requestId"]));
    }

    private void AssertLoggedWithoutStackTrace(string reason)
    {
        var lines = Api.Logs.Lines.Where(l => l.Contains("Transient database failure", StringComparison.Ordinal)
            && l.Contains(reason, StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(lines);
        Assert.All(lines, l => Assert.DoesNotContain("   at ", l, StringComparison.Ordinal));
        Assert.DoesNotContain(Api.Logs.Lines,
            l => l.Contains("Unhandled error", StringComparison.Ordinal) && l.Contains(reason, StringComparison.Ordinal));
    }

    private async Task<NpgsqlConnection> OpenAdminAsync()
    {
        var connection = new NpgsqlConnection(Database.AdminConnectionString);
        await connection.OpenAsync(Ct);
        return connection;
    }

    /// <summary>The backend of the service's transaction once it waits for a lock (polled; the test fails after 30 s).</summary>
    private static async Task<int> WaitForAWaitingServiceTransactionAsync(NpgsqlConnection other)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (await ScalarAsync(other, """
                SELECT coalesce(min(pid), 0)::bigint FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'
                """) is var pid and > 0)
            {
                return (int)pid;
            }

            await Task.Delay(10, Ct);
        }

        Assert.Fail("No transaction of the service waited for a lock within 30 s.");
        return 0;
    }

    /// <summary>Runs <paramref name="sql"/>; the rows it changed.</summary>
    private static async Task<long> ExecuteAsync(NpgsqlConnection connection, string sql, params object[] values)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        return await command.ExecuteNonQueryAsync(Ct);
    }

    private static async Task<long> ScalarAsync(NpgsqlConnection connection, string sql, params object[] values)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        return Convert.ToInt64(await command.ExecuteScalarAsync(Ct), System.Globalization.CultureInfo.InvariantCulture);
    }
}
