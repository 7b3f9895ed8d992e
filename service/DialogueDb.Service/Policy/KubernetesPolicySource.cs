using System.Net;
using System.Text;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace DialogueDb.Service.Policy;

/// <summary>
/// Reads the project policy from a Kubernetes Secret written by the operator and follows it through a watch on that
/// one Secret (a field selector on its name, so a Role limited to that Secret by resourceNames is enough). The watch is
/// re-opened every few minutes and after any failure, and re-lists on 410 Gone; a deleted or malformed Secret leaves the
/// last good policy in force.
/// </summary>
internal sealed partial class KubernetesPolicySource : BackgroundService
{
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    private readonly IKubernetes _client;
    private readonly string _namespace;
    private readonly string _name;
    private readonly string _key;
    private readonly string _projectId;
    private readonly ILogger _logger;
    private readonly Telemetry.ServiceMetrics? _metrics;
    private volatile ProjectDocument _current;
    private string? _resourceVersion;

    private KubernetesPolicySource(IKubernetes client, string ns, string name, string key, V1Secret secret, ILogger logger)
    {
        _client = client;
        _namespace = ns;
        _name = name;
        _key = key;
        _logger = logger;
        _current = Parse(secret) ?? throw new InvalidOperationException($"The policy Secret {ns}/{name} has no usable '{key}' entry.");
        _projectId = _current.ProjectId;
        _resourceVersion = secret.Metadata?.ResourceVersion;
    }

    /// <summary>The same source with the application's logger (the one read at start-up logged nowhere).</summary>
    public KubernetesPolicySource(KubernetesPolicySource opened, ILogger logger, Telemetry.ServiceMetrics? metrics = null)
    {
        _metrics = metrics;
        _client = opened._client;
        _namespace = opened._namespace;
        _name = opened._name;
        _key = opened._key;
        _current = opened._current;
        _projectId = opened._projectId;
        _resourceVersion = opened._resourceVersion;
        _logger = logger;
    }

    public ProjectDocument Current => _current;

    /// <summary>The <c>what</c> label of a policy change in <c>dialoguedb.reloads</c> (the same as the project file's).</summary>
    private const string PolicyLabel = "project_policy";

    public string Source => $"Secret {_namespace}/{_name}";

    /// <summary>Reads the Secret once (a missing or malformed policy stops the process at start).</summary>
    public static KubernetesPolicySource Open(IKubernetes client, string ns, string name, string key, ILogger logger)
    {
        V1Secret secret;
        try
        {
            secret = client.CoreV1.ReadNamespacedSecret(name, ns);
        }
        catch (HttpOperationException ex)
        {
            throw new InvalidOperationException(
                $"Cannot read the policy Secret {ns}/{name} through the Kubernetes API ({(int)ex.Response.StatusCode}).", ex);
        }

        return new KubernetesPolicySource(client, ns, name, key, secret, logger);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var events = _client.CoreV1.WatchListNamespacedSecretAsync(
                    namespaceParameter: _namespace,
                    allowWatchBookmarks: true,
                    fieldSelector: $"metadata.name={_name}",
                    resourceVersion: _resourceVersion,
                    timeoutSeconds: 300,
                    onError: ex => throw ex,
                    cancellationToken: stoppingToken);
                await foreach (var (type, secret) in events)
                {
                    failures = 0;
                    _resourceVersion = secret.Metadata?.ResourceVersion ?? _resourceVersion;
                    switch (type)
                    {
                        case WatchEventType.Added:
                        case WatchEventType.Modified:
                            Apply(secret);
                            break;
                        case WatchEventType.Deleted:
                            LogDeleted(_logger, Source);
                            break;
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (IsGone(ex))
            {
                // The resource version is too old: read the Secret again and watch from there.
                await RelistAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is HttpOperationException or HttpRequestException or KubernetesException or IOException)
            {
                failures++;
                LogWatchFailed(_logger, Source, ex.GetType().Name);
                var delay = TimeSpan.FromMilliseconds(Math.Min(MaxBackoff.TotalMilliseconds, 250 * Math.Pow(2, Math.Min(failures, 7))));
                await Task.Delay(delay, stoppingToken);
                await RelistAsync(stoppingToken);
            }
        }
    }

    private async Task RelistAsync(CancellationToken ct)
    {
        try
        {
            var secret = await _client.CoreV1.ReadNamespacedSecretAsync(_name, _namespace, cancellationToken: ct);
            _resourceVersion = secret.Metadata?.ResourceVersion;
            Apply(secret);
        }
        catch (Exception ex) when (ex is HttpOperationException or HttpRequestException or IOException)
        {
            _resourceVersion = null;
            LogWatchFailed(_logger, Source, ex.GetType().Name);
        }
    }

    private void Apply(V1Secret secret)
    {
        try
        {
            var document = Parse(secret);
            if (document is null)
            {
                LogRejected(_logger, Source, $"the Secret has no '{_key}' entry");
                _metrics?.Reload(PolicyLabel, applied: false);
                return;
            }

            _current = ProjectPolicy.SameProject(document, _projectId, Source);
            LogApplied(_logger, Source);
            _metrics?.Reload(PolicyLabel, applied: true);
        }
        catch (InvalidOperationException ex)
        {
            LogRejected(_logger, Source, ex.Message);
            _metrics?.Reload(PolicyLabel, applied: false);
        }
    }

    private ProjectDocument? Parse(V1Secret secret) =>
        secret.Data is { } data && data.TryGetValue(_key, out var bytes)
            ? ProjectDocument.Parse(Encoding.UTF8.GetString(bytes), Source)
            : null;

    private static bool IsGone(Exception ex) =>
        ex is HttpOperationException { Response.StatusCode: HttpStatusCode.Gone }
        || ex is KubernetesException { Status.Code: 410 };

    [LoggerMessage(Level = LogLevel.Information, Message = "Applied the project policy from {Source}")]
    private static partial void LogApplied(ILogger logger, string source);

    [LoggerMessage(Level = LogLevel.Error, Message = "Rejected a change to the project policy from {Source}; the last good policy stays in force: {Reason}")]
    private static partial void LogRejected(ILogger logger, string source, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The project policy {Source} was deleted; the last good policy stays in force")]
    private static partial void LogDeleted(ILogger logger, string source);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Watching the project policy {Source} failed ({Error}); retrying")]
    private static partial void LogWatchFailed(ILogger logger, string source, string error);
}
