using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Redis;
using StackExchange.Redis;

namespace DialogueDb.Service.Hosting.Commands;

/// <summary>
/// <c>dialoguedb events tail</c>: prints audit events from now on, from the project's Redis stream or, in embedded mode,
/// the events file (following it across rotation), each opened with the event key when the key file is readable.
/// </summary>
internal static class EventsTail
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);
    private const int StreamReadCount = 100;

    private static readonly JsonSerializerOptions EntryJson = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Task<int> FollowAsync(ServiceOptions options, InvocationConfiguration console, CancellationToken ct)
    {
        var reader = SealedEventReader.Open(options.EventsKeyPath, console.Error);
        return string.IsNullOrWhiteSpace(options.Redis)
            ? FollowFileAsync(options.EventsFilePath, reader, console, ct)
            : FollowStreamAsync(options, reader, console, ct);
    }

    private static async Task<int> FollowStreamAsync(ServiceOptions options, SealedEventReader reader, InvocationConfiguration console,
        CancellationToken ct)
    {
        await using var redis = new RedisConnection(options.Redis!);
        var stream = RedisKeys.For(options, ProjectDocument.Read(options.ProjectFilePath).ProjectId).Events;
        var db = await redis.DatabaseAsync();
        // From now on: start after the newest entry (or the beginning of an empty stream).
        var last = await db.StreamRangeAsync(stream, "-", "+", count: 1, messageOrder: Order.Descending);
        var position = last.Length > 0 ? last[0].Id : (RedisValue)"0-0";
        console.Error.WriteLine($"Following {stream} (Ctrl+C to stop).");
        while (!ct.IsCancellationRequested)
        {
            var entries = await db.StreamReadAsync(stream, position, count: StreamReadCount);
            foreach (var entry in entries)
            {
                var fields = entry.Values.ToDictionary(v => (string)v.Name!, v => (string?)v.Value);
                console.Output.WriteLine(reader.Format(JsonSerializer.Serialize(fields, EntryJson)));
                position = entry.Id;
            }

            if (entries.Length == 0)
            {
                await Task.Delay(PollInterval, ct);
            }
        }

        return 0;
    }

    private static async Task<int> FollowFileAsync(string path, SealedEventReader reader, InvocationConfiguration console,
        CancellationToken ct)
    {
        console.Error.WriteLine($"Following {path} (Ctrl+C to stop).");
        while (!File.Exists(path))
        {
            await Task.Delay(PollInterval, ct);
        }

        var file = OpenShared(path);
        var lines = new WholeLineReader(file);
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var line = await lines.ReadLineAsync(ct);
                if (line is null)
                {
                    await Task.Delay(PollInterval, ct);
                    if (File.Exists(path) && new FileInfo(path).Length < file.Position)
                    {
                        // Rotated (or trimmed): the events the old file got since the last read first (the handle still
                        // reads it under its new name), then the new file from its start.
                        while (await lines.ReadLineAsync(ct) is { } last)
                        {
                            Print(console, reader, last);
                        }

                        await file.DisposeAsync();
                        file = OpenShared(path);
                        lines = new WholeLineReader(file);
                    }
                }
                else
                {
                    Print(console, reader, line);
                }
            }
        }
        finally
        {
            await file.DisposeAsync();
        }

        return 0;
    }

    private static void Print(InvocationConfiguration console, SealedEventReader reader, string line)
    {
        if (line.Length > 0)
        {
            console.Output.WriteLine(reader.Format(line));
        }
    }

    private static FileStream OpenShared(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
}
