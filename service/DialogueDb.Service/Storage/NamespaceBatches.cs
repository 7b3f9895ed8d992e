using Npgsql;

namespace DialogueDb.Service.Storage;

/// <summary>
/// PostgreSQL round trips of the hot paths (appends, reads of one item, message pages): one <see cref="NpgsqlBatch"/>
/// whose first command binds the request's namespace for that batch's transaction only
/// (<c>set_config(…, is_local =&gt; true)</c>), followed by the work. A batch without an explicit transaction runs as one
/// implicit transaction (one Sync): all of it commits, or none of it does.
/// <para>
/// These connections come from pools of their own in which no session state ever outlives a transaction, so the pool
/// skips the reset on checkout (a <c>DISCARD ALL</c>-like prefix that also dropped every prepared statement) and the
/// statements stay prepared (<c>Max Auto Prepare</c>). Nothing may set session state on them: a namespace set with
/// <c>is_local =&gt; false</c> would carry over to the next request. The EF Core context keeps its own pool, with the reset.
/// </para>
/// <para>
/// Reads go through a second pool with Npgsql's multiplexing (unless turned off): a read batch is not given a connection
/// of its own but written, with its own Sync, behind other requests' batches on a shared one, so PostgreSQL answers
/// several reads per wake-up and the service sends and receives them in fewer system calls. Safe for the namespace
/// because every batch is its own implicit transaction: its <c>set_config</c> ends at its own Sync, before the next
/// batch on that connection begins. Appends keep a connection each (they gained nothing from multiplexing, and their
/// slow path holds an explicit transaction). Multiplexing is experimental in Npgsql 10 and removed upstream for its next
/// major version (bench/profiles/2026-12-04-reads.md says what that means here); turned off, reads use the exclusive
/// pool.
/// </para>
/// </summary>
internal sealed class NamespaceBatches(NpgsqlDataSource dataSource, NpgsqlDataSource reads) : IAsyncDisposable
{
    private const string BindNamespace = $"SELECT set_config('{DialogueDbContext.NamespaceSetting}', $1, true)";

    /// <summary>The pools for transaction-scoped work, built from the API role's connection string.</summary>
    public static NamespaceBatches Create(string connectionString, bool multiplexedReads)
    {
        var exclusive = Build(connectionString, multiplexing: false);
        return new NamespaceBatches(exclusive, multiplexedReads ? Build(connectionString, multiplexing: true) : exclusive);
    }

    private static NpgsqlDataSource Build(string connectionString, bool multiplexing)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        var settings = builder.ConnectionStringBuilder;
        settings.NoResetOnClose = true;
        settings.Multiplexing = multiplexing;
        if (settings.MaxAutoPrepare == 0)
        {
            settings.MaxAutoPrepare = 64;
            settings.AutoPrepareMinUsages = 2;
        }

        return builder.Build();
    }

    /// <summary>A connection of its own, for work that may need a transaction.</summary>
    public ValueTask<NpgsqlConnection> OpenAsync(CancellationToken ct) => dataSource.OpenConnectionAsync(ct);

    /// <summary>A read batch (no connection of its own when multiplexed) whose first command binds <paramref name="ns"/>.</summary>
    public NpgsqlBatch Read(string ns) => BoundTo(reads.CreateBatch(), ns);

    /// <summary>A batch on <paramref name="connection"/> whose first command binds <paramref name="ns"/> for its transaction.</summary>
    public static NpgsqlBatch Create(NpgsqlConnection connection, string ns, NpgsqlTransaction? transaction = null) =>
        BoundTo(new NpgsqlBatch(connection, transaction), ns);

    /// <summary>The command that binds <paramref name="ns"/> until the end of the current transaction.</summary>
    public static NpgsqlBatchCommand Bind(string ns) =>
        new(BindNamespace) { Parameters = { new NpgsqlParameter<string> { TypedValue = DialogueDbContext.NamespacePrefix + ns } } };

    /// <summary>Every batch of these pools starts by binding its namespace: one place that makes sure of it.</summary>
    private static NpgsqlBatch BoundTo(NpgsqlBatch batch, string ns)
    {
        batch.BatchCommands.Add(Bind(ns));
        return batch;
    }

    /// <summary>A command of a batch with positional parameters ($1, $2, …).</summary>
    public static NpgsqlBatchCommand Command(string sql, params NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        command.Parameters.AddRange(parameters);
        return command;
    }

    public static NpgsqlParameter<T> Value<T>(T value) => new() { TypedValue = value };

    public async ValueTask DisposeAsync()
    {
        if (!ReferenceEquals(reads, dataSource))
        {
            await reads.DisposeAsync();
        }

        await dataSource.DisposeAsync();
    }
}
