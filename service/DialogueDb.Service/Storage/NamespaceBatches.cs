using Npgsql;

namespace DialogueDb.Service.Storage;

/// <summary>
/// PostgreSQL round trips of the hot paths (appends, reads of one item, message pages): one <see cref="NpgsqlBatch"/>
/// whose first command binds the request's namespace for that batch's transaction only
/// (<c>set_config(…, is_local =&gt; true)</c>), followed by the work. A batch without an explicit transaction runs as one
/// implicit transaction (one Sync): all of it commits, or none of it does.
/// <para>
/// These connections come from a pool of their own in which no session state ever outlives a transaction, so the pool
/// skips the reset on checkout (a <c>DISCARD ALL</c>-like prefix that also dropped every prepared statement) and the
/// statements stay prepared (<c>Max Auto Prepare</c>). Nothing may set session state on them: a namespace set with
/// <c>is_local =&gt; false</c> would carry over to the next request. The EF Core context keeps its own pool, with the reset.
/// </para>
/// </summary>
internal sealed class NamespaceBatches(NpgsqlDataSource dataSource) : IAsyncDisposable
{
    private const string BindNamespace = $"SELECT set_config('{DialogueDbContext.NamespaceSetting}', $1, true)";

    /// <summary>The pool for transaction-scoped work, built from the API role's connection string.</summary>
    public static NamespaceBatches Create(string connectionString)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        var settings = builder.ConnectionStringBuilder;
        settings.NoResetOnClose = true;
        if (settings.MaxAutoPrepare == 0)
        {
            settings.MaxAutoPrepare = 64;
            settings.AutoPrepareMinUsages = 2;
        }

        return new NamespaceBatches(builder.Build());
    }

    public ValueTask<NpgsqlConnection> OpenAsync(CancellationToken ct) => dataSource.OpenConnectionAsync(ct);

    /// <summary>A batch on <paramref name="connection"/> whose first command binds <paramref name="ns"/> for its transaction.</summary>
    public static NpgsqlBatch Create(NpgsqlConnection connection, string ns, NpgsqlTransaction? transaction = null)
    {
        var batch = new NpgsqlBatch(connection, transaction);
        batch.BatchCommands.Add(Bind(ns));
        return batch;
    }

    /// <summary>The command that binds <paramref name="ns"/> until the end of the current transaction.</summary>
    public static NpgsqlBatchCommand Bind(string ns) =>
        new(BindNamespace) { Parameters = { new NpgsqlParameter<string> { TypedValue = DialogueDbContext.NamespacePrefix + ns } } };

    /// <summary>A command of a batch with positional parameters ($1, $2, …).</summary>
    public static NpgsqlBatchCommand Command(string sql, params NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        command.Parameters.AddRange(parameters);
        return command;
    }

    public static NpgsqlParameter<T> Value<T>(T value) => new() { TypedValue = value };

    public ValueTask DisposeAsync() => dataSource.DisposeAsync();
}
