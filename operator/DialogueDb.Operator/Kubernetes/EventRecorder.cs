using System.Collections.Concurrent;
using DialogueDb.Operator.Resources;
using k8s;
using k8s.Models;

namespace DialogueDb.Operator.Kubernetes;

/// <summary>
/// Kubernetes Events on a project (<c>kubectl describe dp</c> shows them). The same reason and message for the same
/// project is recorded at most once per <see cref="Quiet"/>, so a failing project retried with backoff does not flood
/// the API server. Recording is best effort: a failure to write an Event never fails a reconcile.
/// </summary>
internal sealed partial class EventRecorder(IKubernetes client, TimeProvider time, ILogger<EventRecorder> logger)
{
    public static readonly TimeSpan Quiet = TimeSpan.FromMinutes(5);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _recent = new();

    public async Task RecordAsync(DialogueProject project, string type, string reason, string message, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var key = $"{project.Metadata.Uid}/{reason}/{message}";
        if (_recent.TryGetValue(key, out var last) && now - last < Quiet)
        {
            return;
        }

        _recent[key] = now;
        var ns = project.Metadata.NamespaceProperty;
        var stamp = now.UtcDateTime;
        var @event = new Corev1Event
        {
            ApiVersion = "v1",
            Kind = "Event",
            Metadata = new V1ObjectMeta { GenerateName = project.Metadata.Name + ".", NamespaceProperty = ns },
            InvolvedObject = new V1ObjectReference
            {
                ApiVersion = DialogueProject.GroupVersion,
                Kind = DialogueProject.KindName,
                Name = project.Metadata.Name,
                NamespaceProperty = ns,
                Uid = project.Metadata.Uid,
                ResourceVersion = project.Metadata.ResourceVersion,
            },
            Type = type,
            Reason = reason,
            Message = message,
            Source = new V1EventSource { Component = "dialoguedb-operator" },
            FirstTimestamp = stamp,
            LastTimestamp = stamp,
            Count = 1,
        };
        try
        {
            await client.CoreV1.CreateNamespacedEventAsync(@event, ns, cancellationToken: cancellationToken);
        }
        catch (Exception ex) when (ex is k8s.Autorest.HttpOperationException or HttpRequestException)
        {
            LogEventFailed(logger, ns, project.Metadata.Name, reason);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Could not record event {Reason} on {Namespace}/{Name}")]
    private static partial void LogEventFailed(ILogger logger, string @namespace, string name, string reason);
}
