using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;

namespace DialogueDb.Service.Hosting;

/// <summary>
/// Settings of <c>dialoguedb serve</c>. Each one is read from a command-line option, else the environment variable
/// <c>DIALOGUEDB_&lt;KEY&gt;</c>, else appsettings (<c>&lt;KEY&gt;</c> at the root), else the default here.
/// The README's configuration table lists the same names.
/// </summary>
internal sealed partial class ServiceOptions
{
    public const string EnvironmentPrefix = "DIALOGUEDB_";

    /// <summary>Folder for the embedded database, generated TLS files, the dev project and its secrets.</summary>
    [ConfigurationKeyName("DATA_DIR")]
    [Required]
    public string DataDir { get; set; } = "./.dialoguedb";

    /// <summary>Listen addresses, separated by ';'. Only https:// serves the API.</summary>
    [ConfigurationKeyName("URLS")]
    [Required]
    public string Urls { get; set; } = "https://127.0.0.1:8443";

    /// <summary>
    /// Plain-HTTP listen addresses (';'-separated, explicit ports) that serve Prometheus metrics at <c>/metrics</c> and
    /// nothing else of the API. <c>dialoguedb serve</c> defaults to <see cref="DefaultMetricsUrls"/>; empty = none. The
    /// workers <c>relay</c> and <c>index</c> listen only when it is set, with their probes (<c>/healthz/live</c>, <c>/ready</c>).
    /// </summary>
    [ConfigurationKeyName("METRICS_URLS")]
    public string? MetricsUrls { get; set; }

    /// <summary>Console log format: <c>text</c> (default) or <c>json</c> (one JSON object a line, with request and trace ids).</summary>
    [ConfigurationKeyName("LOG_FORMAT")]
    [RegularExpression("^(text|json)$", ErrorMessage = "LOG_FORMAT must be text or json.")]
    public string LogFormat { get; set; } = "text";

    public const string DefaultMetricsUrls = "http://127.0.0.1:9464";

    /// <summary>Npgsql connection string; when set the service runs on PostgreSQL instead of the embedded SQLite file.</summary>
    [ConfigurationKeyName("POSTGRES")]
    public string? Postgres { get; set; }

    /// <summary>
    /// Single-item reads and message pages share PostgreSQL connections (Npgsql multiplexing; see NamespaceBatches):
    /// ~1.5x the reads per second on a 2-core pod. Turn off on many-core hosts, where one writer per pool can become the
    /// bottleneck.
    /// </summary>
    [ConfigurationKeyName("POSTGRES_MULTIPLEXED_READS")]
    public bool PostgresMultiplexedReads { get; set; } = true;

    /// <summary><c>migrate</c>: the role the API connects as; granted data access, subject to row-level security.</summary>
    [ConfigurationKeyName("APP_ROLE")]
    public string? AppRole { get; set; }

    /// <summary><c>migrate</c>: the BYPASSRLS role of the jobs that see every namespace (retention, re-encryption).</summary>
    [ConfigurationKeyName("MAINTENANCE_ROLE")]
    public string? MaintenanceRole { get; set; }

    /// <summary>StackExchange.Redis configuration string (used by rate limiting and audit in production).</summary>
    [ConfigurationKeyName("REDIS")]
    public string? Redis { get; set; }

    /// <summary>
    /// PostgreSQL connection (as the maintenance role) for the audit relay hosted by <c>serve</c>. Unset on PostgreSQL:
    /// this process runs no relay (run <c>dialoguedb relay</c>); events wait in the outbox meanwhile.
    /// </summary>
    [ConfigurationKeyName("RELAY_POSTGRES")]
    public string? RelayPostgres { get; set; }

    /// <summary>Approximate maximum length of the project's event stream (XADD MAXLEN ~).</summary>
    [ConfigurationKeyName("EVENTS_MAXLEN")]
    [Range(1000, long.MaxValue)]
    public long EventsMaxLength { get; set; } = 1_000_000;

    /// <summary>
    /// The event key file that seals published events (the mounted <c>&lt;project&gt;-events-key</c> Secret).
    /// Default (embedded mode): DATA_DIR/secrets/events-key.json, generated. A server requires it.
    /// </summary>
    [ConfigurationKeyName("EVENTS_KEY_FILE")]
    public string? EventsKeyFile { get; set; }

    /// <summary>Embedded mode: events.jsonl is rotated when it reaches this size (64 MiB by default).</summary>
    [ConfigurationKeyName("EVENTS_FILE_MAX_BYTES")]
    [Range(4096, long.MaxValue)]
    public long EventsFileMaxBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Embedded mode: events.jsonl is rotated when its first event is this many hours old (24 by default).</summary>
    [ConfigurationKeyName("EVENTS_FILE_MAX_AGE_HOURS")]
    [Range(1, 24 * 366)]
    public int EventsFileMaxAgeHours { get; set; } = 24;

    /// <summary>Prefix of every Redis key of this project (default <c>ddb:{projectId}:</c>; the braces are a Cluster hash tag).</summary>
    [ConfigurationKeyName("REDIS_KEY_PREFIX")]
    public string? RedisKeyPrefix { get; set; }

    /// <summary>While Redis is unreachable: <c>open</c> (default) keeps serving with per-instance limits, <c>closed</c> answers 503.</summary>
    [ConfigurationKeyName("RATE_LIMIT_FAILURE_MODE")]
    public RateLimiting.RateLimitFailureMode RateLimitFailureMode { get; set; } = RateLimiting.RateLimitFailureMode.Open;

    /// <summary>
    /// Read the project policy from this Kubernetes Secret (<c>name</c> or <c>namespace/name</c>) through the Kubernetes
    /// API and follow it with a watch, instead of the project file.
    /// </summary>
    [ConfigurationKeyName("POLICY_SECRET")]
    public string? PolicySecret { get; set; }

    /// <summary>The key of the policy Secret that holds the project document.</summary>
    [ConfigurationKeyName("POLICY_SECRET_KEY")]
    public string PolicySecretKey { get; set; } = "project.json";

    /// <summary>The project document (project id, API key hashes). Default: DATA_DIR/project.json, created on first start.</summary>
    [ConfigurationKeyName("PROJECT_FILE")]
    public string? ProjectFile { get; set; }

    /// <summary>The secret that keys API key hashes (HMAC-SHA-256). Default: DATA_DIR/secrets/api-key-hash.key, created on first start.</summary>
    [ConfigurationKeyName("API_KEY_HASH_SECRET_FILE")]
    public string? ApiKeyHashSecretFile { get; set; }

    /// <summary>The encryption key ring as JSON (e.g. from a Kubernetes Secret through the environment).</summary>
    [ConfigurationKeyName("ENCRYPTION_KEYS")]
    public string? EncryptionKeys { get; set; }

    /// <summary>A file holding the encryption key ring. Default (embedded mode): DATA_DIR/secrets/encryption-keys.json, generated.</summary>
    [ConfigurationKeyName("ENCRYPTION_KEYS_FILE")]
    public string? EncryptionKeysFile { get; set; }

    /// <summary>PEM certificate chain for HTTPS. Default: a certificate generated into DATA_DIR/tls.</summary>
    [ConfigurationKeyName("TLS_CERT")]
    public string? TlsCertificateFile { get; set; }

    /// <summary>PEM private key of <see cref="TlsCertificateFile"/>.</summary>
    [ConfigurationKeyName("TLS_KEY")]
    public string? TlsKeyFile { get; set; }

    /// <summary>Largest accepted request body in bytes (36 MiB by default); larger bodies get 413.</summary>
    [ConfigurationKeyName("MAX_REQUEST_BODY_BYTES")]
    [Range(1024, long.MaxValue)]
    public long MaxRequestBodyBytes { get; set; } = 36L * 1024 * 1024;

    /// <summary>Bytes that request bodies being read may hold at once (256 MiB by default); more wait their turn.</summary>
    [ConfigurationKeyName("MAX_BUFFERED_BODY_BYTES")]
    [Range(1024 * 1024, long.MaxValue)]
    public long MaxBufferedBodyBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>Open connections Kestrel serves at once; one more is closed as soon as it is accepted.</summary>
    [ConfigurationKeyName("MAX_CONNECTIONS")]
    [Range(16, 1_000_000)]
    public int MaxConnections { get; set; } = 4096;

    /// <summary>Seconds an idle connection is kept open between requests.</summary>
    [ConfigurationKeyName("KEEP_ALIVE_SECONDS")]
    [Range(1, 3600)]
    public int KeepAliveSeconds { get; set; } = 60;

    /// <summary>Seconds a connection may stay open without carrying an authenticated request.</summary>
    [ConfigurationKeyName("UNAUTHENTICATED_CONNECTION_SECONDS")]
    [Range(1, 3600)]
    public int UnauthenticatedConnectionSeconds { get; set; } = 10;

    /// <summary>Failed authentications one client address may make per minute before it gets 429 for a while.</summary>
    [ConfigurationKeyName("AUTH_FAILURES_PER_MINUTE")]
    [Range(1, 1_000_000)]
    public int AuthFailuresPerMinute { get; set; } = 60;

    public bool UsesPostgres => !string.IsNullOrWhiteSpace(Postgres);

    public string FullDataDir => Path.GetFullPath(DataDir);

    public string ProjectFilePath => ProjectFile ?? Path.Combine(FullDataDir, "project.json");

    public string ApiKeyHashSecretPath => ApiKeyHashSecretFile ?? Path.Combine(FullDataDir, "secrets", "api-key-hash.key");

    public string EncryptionKeysPath => EncryptionKeysFile ?? Path.Combine(FullDataDir, "secrets", "encryption-keys.json");

    public string EventsKeyPath => EventsKeyFile ?? Path.Combine(FullDataDir, "secrets", "events-key.json");

    /// <summary>The policy Secret's namespace (given, else the pod's own: POD_NAMESPACE or the service account's) and name.</summary>
    public (string Namespace, string Name) PolicySecretReference()
    {
        var value = PolicySecret ?? throw new InvalidOperationException("No policy Secret is configured.");
        var slash = value.IndexOf('/', StringComparison.Ordinal);
        if (slash > 0)
        {
            return (value[..slash], value[(slash + 1)..]);
        }

        const string serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
        var ns = Environment.GetEnvironmentVariable("POD_NAMESPACE")
            ?? (File.Exists(serviceAccountNamespace) ? File.ReadAllText(serviceAccountNamespace).Trim() : "default");
        return (ns, value);
    }

    /// <summary>The ports of <see cref="MetricsUrls"/> (validated: plain HTTP, explicit ports).</summary>
    public IReadOnlySet<int> MetricsPorts() => MetricsListeners().Select(u => u.Port).ToHashSet();

    private IEnumerable<Uri> MetricsListeners() =>
        (MetricsUrls ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(ListenUri);

    private static Uri ListenUri(string url) =>
        Uri.TryCreate(url.Replace("*", "0.0.0.0", StringComparison.Ordinal).Replace("+", "0.0.0.0", StringComparison.Ordinal),
            UriKind.Absolute, out var uri) ? uri : throw new InvalidOperationException($"Invalid address '{url}'.");

    public string EventsFilePath => Path.Combine(FullDataDir, "events.jsonl");

    public string SqlitePath => Path.Combine(FullDataDir, "dialoguedb.sqlite");

    /// <summary>Binds from configuration (environment variables with the prefix removed, appsettings, command line).</summary>
    public static ServiceOptions From(IConfiguration configuration)
    {
        var options = new ServiceOptions();
        configuration.Bind(options);
        // Only the configured service gets the default listener: hosts built from options in code (tests) have none.
        if (configuration["METRICS_URLS"] is null)
        {
            options.MetricsUrls = DefaultMetricsUrls;
        }

        return options;
    }
}
