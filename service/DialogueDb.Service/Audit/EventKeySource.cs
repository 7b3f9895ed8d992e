using DialogueDb.Service.Hosting;

namespace DialogueDb.Service.Audit;

/// <summary>
/// The event key ring, followed live once its file exists. On a server whose key file is not there yet (the Secret is
/// created after the pods start, or not mounted), reading it fails with a <see cref="FileNotFoundException"/> at every
/// publish: the relay reports it and retries, and the events wait in the outbox, never published unsealed.
/// </summary>
internal sealed partial class EventKeySource(ServiceOptions options, TimeProvider time, ILogger logger,
    Telemetry.ServiceMetrics? metrics = null) : IDisposable
{
    private readonly Lock _gate = new();
    private ReloadingFiles<EventKeyRing>? _file;

    public EventKeyRing Current
    {
        get
        {
            lock (_gate)
            {
                if (_file is null)
                {
                    var path = options.EventsKeyPath;
                    EventKeyRing.Load(options, time);
                    _file = new ReloadingFiles<EventKeyRing>("event key", [path], contents => EventKeyRing.Parse(contents[0], path), time, logger,
                        metrics: metrics);
                }

                return _file.Current;
            }
        }
    }

    /// <summary>Reads the key now when it is there (so a malformed file stops the process at start); logs when it is not.</summary>
    public void LoadIfPresent()
    {
        try
        {
            _ = Current;
        }
        catch (FileNotFoundException)
        {
            LogMissing(logger, options.EventsKeyPath);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _file?.Dispose();
        }
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "No event key at {Path} yet: audit events wait in the outbox until it exists (the <project>-events-key Secret)")]
    private static partial void LogMissing(ILogger logger, string path);
}
