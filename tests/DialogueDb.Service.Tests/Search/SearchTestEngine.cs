using DialogueDb.Service.Hosting;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace DialogueDb.Service.Tests.Search;

/// <summary>
/// One test's storage for the indexing tests that start and stop their own service hosts: a data folder with a
/// project, and for PostgreSQL a database of its own (hosts of other tests never index its queue with their keys).
/// Reads the index queues as the indexer sees them (the maintenance role on PostgreSQL).
/// </summary>
internal sealed class SearchTestEngine : IAsyncDisposable
{
    private readonly TestFolder _dataDir;
    private readonly TestDatabase? _database;

    private SearchTestEngine(TestFolder dataDir, string key, TestDatabase? database)
    {
        _dataDir = dataDir;
        Key = key;
        _database = database;
    }

    public string DataDir => _dataDir.Path;

    public string Key { get; }

    /// <summary>Superuser on the PostgreSQL database (a test that writes rows as an older version or another writer would).</summary>
    public string AdminConnectionString => _database?.AdminConnectionString
        ?? throw new InvalidOperationException("The embedded engine has no PostgreSQL database.");

    public static async Task<SearchTestEngine> CreateAsync(bool postgres, string project)
    {
        if (postgres && TestDatabase.UnavailableReason() is { } reason)
        {
            Assert.Skip(reason);
        }

        var dataDir = new TestFolder();
        try
        {
            var key = TestProject.Write(dataDir.Path, project).ReadWrite;
            return new SearchTestEngine(dataDir, key, postgres ? await TestDatabase.CreateAsync() : null);
        }
        catch
        {
            dataDir.Dispose();
            throw;
        }
    }

    public ServiceOptions Options() => _database is null
        ? new ServiceOptions { DataDir = DataDir, Urls = "https://127.0.0.1:0" }
        : new ServiceOptions
        {
            DataDir = DataDir,
            Urls = "https://127.0.0.1:0",
            Postgres = _database.AppConnectionString,
            RelayPostgres = _database.MaintenanceConnectionString,
            EncryptionKeysFile = TestProject.WriteEncryptionKeys(DataDir),
            EventsKeyFile = TestProject.WriteEventKey(DataDir),
        };

    /// <summary>Starts the service with <paramref name="embedder"/> in place of the in-process model.</summary>
    public Task<ServiceHost> StartAsync(ScriptedEmbedder embedder, Action<ServiceOptions>? configure = null)
    {
        var options = Options();
        configure?.Invoke(options);
        return ServiceHost.StartAsync(options, services: s => s.AddSingleton<DialogueDb.Service.Search.IEmbedder>(embedder));
    }

    /// <summary>The namespace's entries in <c>search_vector_queue</c>, oldest first.</summary>
    public Task<List<(string Kind, string ItemId, bool Failed)>> VectorQueueAsync(string ns, CancellationToken ct) =>
        RowsAsync("SELECT kind, item_id, failed FROM search_vector_queue WHERE namespace = @ns ORDER BY id", ns,
            r => (r.GetString(0), r.GetString(1), Convert.ToBoolean(r.GetValue(2), System.Globalization.CultureInfo.InvariantCulture)), ct);

    /// <summary>The failed attempts and next attempt (Unix ms) of the namespace's entries in <c>search_vector_queue</c>, oldest first.</summary>
    public Task<List<(int Attempts, long NextAttempt)>> VectorRetriesAsync(string ns, CancellationToken ct) =>
        RowsAsync("SELECT attempts, next_attempt FROM search_vector_queue WHERE namespace = @ns ORDER BY id", ns,
            r => (Convert.ToInt32(r.GetValue(0), System.Globalization.CultureInfo.InvariantCulture),
                Convert.ToInt64(r.GetValue(1), System.Globalization.CultureInfo.InvariantCulture)), ct);

    /// <summary>
    /// The namespace's keyword work not yet done: its entries in <c>search_queue</c>, and on PostgreSQL its messages the
    /// indexer has not followed yet (past <c>search_message_cursor</c>).
    /// </summary>
    public async Task<long> KeywordQueueAsync(string ns, CancellationToken ct) => (await RowsAsync(_database is null
        ? "SELECT count(*) FROM search_queue WHERE namespace = @ns"
        : """
            SELECT (SELECT count(*) FROM search_queue WHERE namespace = @ns)
                + (SELECT count(*) FROM messages m, search_message_cursor c WHERE m.namespace = @ns AND m.xid >= c.next_xid)
            """, ns, r => Convert.ToInt64(r.GetValue(0), System.Globalization.CultureInfo.InvariantCulture), ct)).Single();

    /// <summary>Every row of the named table as text, as someone holding the database reads it.</summary>
    public Task<List<string>> RawRowsAsync(string table, CancellationToken ct) => _database is null
        ? RowsAsync($"SELECT * FROM {table}", null, r => string.Join('|', Enumerable.Range(0, r.FieldCount).Select(i => r.GetValue(i) switch
        {
            byte[] bytes => System.Text.Encoding.UTF8.GetString(bytes),
            var value => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture),
        })), ct)
        : RowsAsync($"SELECT t::text FROM {table} t", null, r => r.GetString(0), ct);

    /// <summary>
    /// Runs statements as the database's owner would (the superuser on PostgreSQL), e.g. to leave the index as an older
    /// version left it; parameters are named <c>@name</c>.
    /// </summary>
    public async Task ExecuteAsync(string sql, CancellationToken ct, params (string Name, object Value)[] parameters)
    {
        await using System.Data.Common.DbConnection connection = _database is null
            ? new SqliteConnection($"Data Source={new ServiceOptions { DataDir = DataDir }.SqlitePath};Pooling=False")
            : new NpgsqlConnection(_database.AdminConnectionString);
        await connection.OpenAsync(ct);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }

        await command.ExecuteNonQueryAsync(ct);
    }

    private async Task<List<T>> RowsAsync<T>(string sql, string? ns, Func<System.Data.Common.DbDataReader, T> read, CancellationToken ct)
    {
        await using System.Data.Common.DbConnection connection = _database is null
            ? new SqliteConnection($"Data Source={new ServiceOptions { DataDir = DataDir }.SqlitePath};Pooling=False")
            : new NpgsqlConnection(_database.MaintenanceConnectionString);
        await connection.OpenAsync(ct);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        if (ns is not null)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = "ns";
            parameter.Value = ns;
            command.Parameters.Add(parameter);
        }

        var rows = new List<T>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            rows.Add(read(reader));
        }

        return rows;
    }

    /// <summary>Drops the database and deletes the data folder: dispose every host started from this engine first.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_database is not null)
            {
                await _database.DisposeAsync();
            }
        }
        finally
        {
            _dataDir.Dispose();
        }
    }
}
