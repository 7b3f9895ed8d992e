using System.Globalization;
using System.Text;

namespace DialogueDb.Service.Audit;

/// <summary>
/// Embedded mode: events appended as JSON lines to DATA_DIR/events.jsonl (watch it with `dialoguedb events tail`),
/// readable by the owner only. The file is rotated to events-&lt;UTC time&gt;.jsonl when it reaches
/// <paramref name="maxBytes"/> or its first event is older than <paramref name="maxAge"/>; a rotated file is deleted
/// once its newest event is older than the retention window, and the live file too (it is started afresh).
/// </summary>
internal sealed class FileSink(string path, long maxBytes, TimeSpan maxAge, Func<TimeSpan?> retention, TimeProvider time) : IEventSink
{
    private const string RotatedPrefix = "events-";
    private DateTimeOffset? _liveSince;

    public string Describe => path;

    public async Task PublishAsync(IReadOnlyList<byte[]> events, CancellationToken ct)
    {
        RotateIfDue();
        var options = new FileStreamOptions { Mode = FileMode.Append, Access = FileAccess.Write, Share = FileShare.ReadWrite };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        await using (var stream = new FileStream(path, options))
        {
            foreach (var e in events)
            {
                await stream.WriteAsync(e, ct);
                stream.WriteByte((byte)'\n');
            }

            await stream.FlushAsync(ct);
            stream.Flush(flushToDisk: true);
        }

        if (!OperatingSystem.IsWindows())
        {
            // A file written by an older version may still be world-readable.
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        _liveSince ??= time.GetUtcNow();
        await TrimAsync(ct);
    }

    public Task TrimAsync(CancellationToken ct)
    {
        if (retention() is not { } window)
        {
            return Task.CompletedTask;
        }

        var cutoff = (time.GetUtcNow() - window).UtcDateTime;
        foreach (var rotated in Rotated())
        {
            if (File.GetLastWriteTimeUtc(rotated) < cutoff)
            {
                File.Delete(rotated);
            }
        }

        if (File.Exists(path) && File.GetLastWriteTimeUtc(path) < cutoff)
        {
            File.Delete(path);
            _liveSince = null;
        }

        return Task.CompletedTask;
    }

    /// <summary>The rotated files, oldest first (their names sort by time).</summary>
    public IEnumerable<string> Rotated() =>
        Directory.EnumerateFiles(Path.GetDirectoryName(path)!, RotatedPrefix + "*.jsonl").Order(StringComparer.Ordinal);

    private void RotateIfDue()
    {
        var file = new FileInfo(path);
        if (!file.Exists)
        {
            _liveSince = null;
            return;
        }

        // After a restart the live file's age is unknown: count it from its creation.
        _liveSince ??= new DateTimeOffset(file.CreationTimeUtc, TimeSpan.Zero);
        var now = time.GetUtcNow();
        if (file.Length < maxBytes && now - _liveSince < maxAge)
        {
            return;
        }

        var stamp = now.ToString("yyyyMMdd'T'HHmmss.fff'Z'", CultureInfo.InvariantCulture);
        var target = Path.Combine(file.DirectoryName!, $"{RotatedPrefix}{stamp}.jsonl");
        for (var n = 1; File.Exists(target); n++)
        {
            target = Path.Combine(file.DirectoryName!, $"{RotatedPrefix}{stamp}-{n}.jsonl");
        }

        File.Move(path, target);
        _liveSince = null;
    }

    public static string Line(byte[] json) => Encoding.UTF8.GetString(json);
}
