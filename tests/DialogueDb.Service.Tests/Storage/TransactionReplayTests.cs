using System.Diagnostics;
using System.Net;
using DialogueDb.Service.Storage;
using DialogueDb.Service.Tests.Conformance;
using DialogueDb.Service.Tests.Infrastructure;
using Npgsql;

namespace DialogueDb.Service.Tests.Storage;

/// <summary>
/// A message append on PostgreSQL that the database rolls back for a deadlock or a serialization failure is run again
/// whole (TransactionReplay): the client gets its message once, with one audit event; when every attempt fails, the
/// answer is the contract's 503 and nothing of the request is saved. The transactions the tests hold against the
/// service's are <see cref="HeldTransaction"/>s: every wait for the server is bounded by <see cref="Patience"/>, and
/// nothing stays open after a test, passed or failed.
/// </summary>
public sealed class TransactionReplayTests(PostgresApiFixture api) : ConformanceTest(api), IClassFixture<PostgresApiFixture>
{
    /// <summary>The longest a test waits for one step of the server (then it fails, saying which).</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private TestDatabase Database => ((PostgresApiFixture)Api).Database;

    /// <summary>
    /// A real deadlock, whose victim is always the service's first attempt, whatever the timing. PostgreSQL checks a
    /// lock wait for a cycle once, <c>deadlock_timeout</c> after the wait began; the waiter that runs the check is the
    /// one rolled back. So the cycle is closed before the service's transaction starts its last wait. The append locks
    /// the dialogue, then inserts its message, whose keys are checked against the primary key (dialogue, seq) first and
    /// the client id second. Transaction C holds an uncommitted row with the message's seq, T one with its client id:
    /// the append, holding the dialogue, waits for C. T then waits for the dialogue (its own check is an hour away).
    /// When C rolls back, the append goes on to the client id and waits for T: a cycle from the start of that wait,
    /// which the service's check finds. T gets the dialogue, the replay waits for it, T rolls back, the replay commits.
    /// </summary>
    [Fact]
    public async Task Append_RealDeadlock_ReplayedWhole_Answers200WithOneMessageAndOneEvent()
    {
        var ns = NewNamespace();
        (await PostAsync($"api/v1/dialogue?namespace={ns}", new { id = "d1" })).Expect(HttpStatusCode.OK);
        await using var observer = await OpenAdminAsync();
        var eventsBefore = await ScalarAsync(observer, "SELECT count(*) FROM outbox WHERE namespace = $1", ns);
        using var failures = new CounterByReason(Api.Services, CounterByReason.TransientFailures);
        using var replays = new CounterByReason(Api.Services, CounterByReason.TransactionReplays);
        var content = Unique("replayed-content");

        Task<ApiResponse> append;
        int[] testBackends;
        int service;
        await using (var t = await HeldTransaction.BeginAsync(Database.AdminConnectionString, Ct))
        await using (var c = await HeldTransaction.BeginAsync(Database.AdminConnectionString, Ct))
        {
            testBackends = [t.ProcessId, c.ProcessId];
            await t.ExecuteAsync("SET LOCAL deadlock_timeout = '1h'", Ct);
            await t.ExecuteAsync(InsertMessage("1000000", "'m1'"), Ct, ns);
            await c.ExecuteAsync(InsertMessage("(SELECT last_seq + 1 FROM dialogues WHERE namespace = $1 AND id = 'd1')", "'blocker'"), Ct, ns);

            append = PostAsync($"api/v1/message?dialogueId=d1&namespace={ns}", new { id = "m1", role = "user", content });
            service = await WaitForBlockedAsync(observer, c.ProcessId, append,
                "the append (holding the dialogue) to wait for C's row with the same seq");
            var closing = t.ExecuteAsync("UPDATE dialogues SET modified = modified WHERE namespace = $1 AND id = 'd1'", Ct, ns);
            Assert.Equal(t.ProcessId, await WaitForBlockedAsync(observer, service, closing, "T to wait for the dialogue the append holds"));

            await c.RollbackAsync(Ct);
            // The append now waits for T's client id, T for the append's dialogue: the service's side finds the cycle.
            Assert.Equal(1, await Bounded(closing, "T to get the dialogue once the append's first attempt was rolled back"));
            await t.RollbackAsync(Ct);
        }

        var appended = (await Bounded(append, "the replayed append to answer")).Expect(HttpStatusCode.OK).Object;
        Assert.Equal("m1", Str(appended["id"]));
        Assert.Equal(content, Str(appended["content"]));
        Assert.Equal(1L, await ScalarAsync(observer, "SELECT count(*) FROM messages WHERE namespace = $1", ns));
        Assert.Equal(1L, await ScalarAsync(observer, "SELECT count(*) FROM messages WHERE namespace = $1 AND id = 'm1' AND seq = 1", ns));
        Assert.Equal(eventsBefore + 1, await ScalarAsync(observer, "SELECT count(*) FROM outbox WHERE namespace = $1", ns));
        Assert.Equal(1, Num((await GetAsync($"api/v1/dialogue/d1?namespace={ns}")).Expect(HttpStatusCode.OK).Object["totalMessages"]));
        Assert.Equal(1, replays.Of("40P01"));
        Assert.Equal(0, failures.Of("40P01"));
        var replayed = Api.Logs.Lines.Where(l => l.Contains("replaying it", StringComparison.Ordinal)).ToList();
        Assert.Contains(replayed, l => l.Contains("40P01", StringComparison.Ordinal));
        Assert.All(replayed, l => Assert.DoesNotContain("   at ", l, StringComparison.Ordinal));
        Assert.DoesNotContain(Api.Logs.Lines, l => l.Contains(content, StringComparison.Ordinal));
        Assert.Equal(0L, await ScalarAsync(observer, """
            SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1) OR (pid = $2 AND state LIKE 'idle in transaction%')
            """, testBackends, service));
    }

    /// <summary>
    /// Every attempt fails (a trigger raises the SQLSTATE when the append writes its audit event, its last write): a
    /// deadlock or serialization failure is replayed until the attempts run out, any other transient failure is not
    /// replayed at all; then the answer is 503 with Retry-After, and no message, event, search work or count was saved.
    /// </summary>
    [Theory]
    [InlineData("40P01", TransactionReplay.MaxAttempts - 1)] // deadlock_detected
    [InlineData("40001", TransactionReplay.MaxAttempts - 1)] // serialization_failure
    [InlineData("55P03", 0)] // lock_not_available: not replayed
    public async Task Append_FailsInEveryAttempt_Answers503_NothingWritten(string sqlState, int expectedReplays)
    {
        var ns = NewNamespace();
        (await PostAsync($"api/v1/dialogue?namespace={ns}", new { id = "d1" })).Expect(HttpStatusCode.OK);
        await using var admin = await OpenAdminAsync();
        var eventsBefore = await ScalarAsync(admin, "SELECT count(*) FROM outbox WHERE namespace = $1", ns);
        var queuedBefore = await ScalarAsync(admin, "SELECT count(*) FROM search_queue WHERE namespace = $1", ns);
        using var failures = new CounterByReason(Api.Services, CounterByReason.TransientFailures);
        using var replays = new CounterByReason(Api.Services, CounterByReason.TransactionReplays);
        var trigger = "fail_" + ns.Replace('-', '_');
        await ExecuteAsync(admin, $"""
            CREATE SEQUENCE {trigger}_attempts;
            CREATE FUNCTION {trigger}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $fn$
            BEGIN
                IF NEW.namespace = '{ns}' THEN
                    -- A sequence is not rolled back with the attempt: it counts them (the definer may use it; the API role may not).
                    PERFORM nextval('{trigger}_attempts');
                    RAISE EXCEPTION 'injected' USING ERRCODE = '{sqlState}';
                END IF;
                RETURN NEW;
            END $fn$;
            CREATE TRIGGER {trigger} BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION {trigger}();
            """);
        ApiResponse answer;
        long attempts;
        try
        {
            answer = await Bounded(PostAsync($"api/v1/message?dialogueId=d1&namespace={ns}", new { id = "m1", role = "user", content = "hi" }),
                "the append to answer");
            attempts = await ScalarAsync(admin, $"SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {trigger}_attempts");
        }
        finally
        {
            await ExecuteAsync(admin, $"""
                DROP TRIGGER {trigger} ON outbox; DROP FUNCTION {trigger}(); DROP SEQUENCE {trigger}_attempts;
                """);
        }

        answer.Expect(HttpStatusCode.ServiceUnavailable, "SERVICE_UNAVAILABLE");
        Assert.Equal("service_unavailable", answer.ErrorType);
        Assert.Equal("1", answer.Headers["Retry-After"]);
        Assert.Equal(answer.Headers["X-Request-Id"], Str(answer.Object["error"]!["requestId"]));
        Assert.Equal(expectedReplays + 1, attempts);
        Assert.Equal(expectedReplays, replays.Of(sqlState));
        Assert.Equal(1, failures.Of(sqlState));
        Assert.Equal(0L, await ScalarAsync(admin, "SELECT count(*) FROM messages WHERE namespace = $1", ns));
        Assert.Equal(eventsBefore, await ScalarAsync(admin, "SELECT count(*) FROM outbox WHERE namespace = $1", ns));
        Assert.Equal(queuedBefore, await ScalarAsync(admin, "SELECT count(*) FROM search_queue WHERE namespace = $1", ns));
        Assert.Equal(0L, await ScalarAsync(admin, "SELECT last_seq + total_messages FROM dialogues WHERE namespace = $1 AND id = 'd1'", ns));

        // Nothing was taken by the failed attempts: the same request sent again gets seq 1.
        (await PostAsync($"api/v1/message?dialogueId=d1&namespace={ns}", new { id = "m1", role = "user", content = "hi" }))
            .Expect(HttpStatusCode.OK);
        Assert.Equal(1L, await ScalarAsync(admin, "SELECT count(*) FROM messages WHERE namespace = $1 AND id = 'm1' AND seq = 1", ns));
        Assert.Equal(eventsBefore + 1, await ScalarAsync(admin, "SELECT count(*) FROM outbox WHERE namespace = $1", ns));
    }

    /// <summary>An INSERT of a message of dialogue d1 in namespace $1 with the given seq and client id (SQL expressions).</summary>
    private static string InsertMessage(string seq, string id) => $$"""
        INSERT INTO messages (namespace, dialogue_id, seq, id, role, content, content_length, tags, metadata, created, modified)
        VALUES ($1, 'd1', {{seq}}, {{id}}, 'user', '\x00'::bytea, 1, '[]', '{}', 0, 0)
        """;

    /// <summary>
    /// The backend that waits for a lock of <paramref name="blocker"/>'s (polled until <see cref="Patience"/> runs out). Fails
    /// at once, with the answer, if <paramref name="waiter"/> (what should be waiting) ended instead.
    /// </summary>
    private static async Task<int> WaitForBlockedAsync(NpgsqlConnection observer, int blocker, Task waiter, string what)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Patience)
        {
            if (waiter.IsCompleted)
            {
                Assert.Fail($"Waited for {what}, but it ended first: {await Describe(waiter)}");
            }

            if (await ScalarAsync(observer, "SELECT coalesce(min(pid), 0)::bigint FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                blocker) is var pid and > 0)
            {
                return (int)pid;
            }

            await Task.Delay(20, Ct);
        }

        Assert.Fail($"Waited {Patience.TotalSeconds} s for {what}; backends waiting for locks now: " +
            await WaitingBackendsAsync(observer));
        return 0;
    }

    /// <summary><paramref name="task"/>'s result, or a failure naming <paramref name="what"/> after <see cref="Patience"/>.</summary>
    private static async Task<T> Bounded<T>(Task<T> task, string what)
    {
        try
        {
            return await task.WaitAsync(Patience, Ct);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"Waited {Patience.TotalSeconds} s for {what}.");
            throw;
        }
    }

    private static async Task<string> Describe(Task task)
    {
        try
        {
            return task switch
            {
                Task<ApiResponse> answer => $"{(int)(await answer).Status} {(await answer).Body}",
                Task<int> rows => $"{await rows} rows",
                _ => "done",
            };
        }
        catch (Exception ex) when (ex is NpgsqlException or HttpRequestException or OperationCanceledException)
        {
            return ex.GetType().Name + (ex is PostgresException pg ? " " + pg.SqlState : "");
        }
    }

    private static async Task<string> WaitingBackendsAsync(NpgsqlConnection observer)
    {
        await using var command = new NpgsqlCommand("""
            SELECT coalesce(string_agg(format('%s (%s, %s; blocked by %s)', pid, usename, wait_event, pg_blocking_pids(pid)), '; '), 'none')
            FROM pg_stat_activity WHERE wait_event_type = 'Lock'
            """, observer);
        return (string)(await command.ExecuteScalarAsync(Ct))!;
    }

    private async Task<NpgsqlConnection> OpenAdminAsync()
    {
        var connection = new NpgsqlConnection(Database.AdminConnectionString);
        await connection.OpenAsync(Ct);
        return connection;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(Ct);
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
