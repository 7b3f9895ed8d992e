using System.Security.Cryptography;

namespace DialogueDb.Service.Hosting;

/// <summary>
/// A value parsed from one or more files (key rings, the project document, TLS certificates) that follows changes to
/// them within about a second, without a restart. Content is polled rather than watched: Kubernetes updates mounted
/// Secrets by swapping symlinks, which file-system events miss. A file that fails to parse is logged and the last good
/// value stays in force.
/// </summary>
internal sealed partial class ReloadingFiles<T> : IDisposable where T : class
{
    private readonly string[] _paths;
    private readonly Func<string[], T> _parse;
    private readonly ILogger _logger;
    private readonly string _what;
    private readonly Telemetry.ServiceMetrics? _metrics;
    private readonly ITimer _timer;
    private byte[] _fingerprint;
    private volatile T _current;

    public ReloadingFiles(string what, string[] paths, Func<string[], T> parse, TimeProvider time, ILogger logger, TimeSpan? interval = null,
        Telemetry.ServiceMetrics? metrics = null)
    {
        _what = what;
        _metrics = metrics;
        _paths = paths;
        _parse = parse;
        _logger = logger;
        var contents = Read();
        _fingerprint = Fingerprint(contents);
        _current = parse(contents);
        var period = interval ?? TimeSpan.FromMilliseconds(500);
        _timer = time.CreateTimer(_ => Poll(), null, period, period);
    }

    public T Current => _current;

    /// <summary>Raised after a changed file was parsed and took effect.</summary>
    public event Action<T>? Changed;

    /// <summary>Checks the files now (the timer does this every interval).</summary>
    public void Poll()
    {
        string[] contents;
        try
        {
            contents = Read();
        }
        catch (IOException ex)
        {
            LogUnreadable(_logger, _what, ex.GetType().Name);
            return;
        }
        catch (UnauthorizedAccessException ex)
        {
            LogUnreadable(_logger, _what, ex.GetType().Name);
            return;
        }

        var fingerprint = Fingerprint(contents);
        if (fingerprint.AsSpan().SequenceEqual(_fingerprint))
        {
            return;
        }

        _fingerprint = fingerprint;
        try
        {
            _current = _parse(contents);
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException or CryptographicException)
        {
            // The message names the file and the problem, never its content.
            LogRejected(_logger, _what, ex.Message);
            _metrics?.Reload(MetricLabel, applied: false);
            return;
        }

        LogReloaded(_logger, _what);
        _metrics?.Reload(MetricLabel, applied: true);
        Changed?.Invoke(_current);
    }

    /// <summary>The <c>what</c> label of <c>dialoguedb.reloads</c>: "project file" → "project_file".</summary>
    private string MetricLabel => _what == "project file" ? "project_policy" : _what.Replace(' ', '_').ToLowerInvariant();

    private string[] Read() => [.. _paths.Select(File.ReadAllText)];

    private static byte[] Fingerprint(string[] contents) =>
        SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Join('\0', contents)));

    public void Dispose() => _timer.Dispose();

    [LoggerMessage(Level = LogLevel.Information, Message = "Reloaded the {What}")]
    private static partial void LogReloaded(ILogger logger, string what);

    [LoggerMessage(Level = LogLevel.Error, Message = "Rejected a change to the {What}; the last good version stays in force: {Reason}")]
    private static partial void LogRejected(ILogger logger, string what, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not read the {What} ({Error}); the last good version stays in force")]
    private static partial void LogUnreadable(ILogger logger, string what, string error);
}
