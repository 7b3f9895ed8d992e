using System.CommandLine;
using System.Text;
using System.Text.Json.Nodes;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Hosting.Commands;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Audit;

/// <summary>
/// The events file read while it is written: a line is read only once its '\n' has arrived, by the tests' readers and
/// by <c>dialoguedb events tail</c>, which before printed the part as one event and the rest as another (and, with the
/// event key at hand, stopped on the part it could not parse); and across a rotation, where the tail now prints the old
/// file's last events before the new file's (it skipped those written since its last read).
/// </summary>
public sealed class WholeLineReaderTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task LineWrittenInTwoWrites_ReadOnceWhole()
    {
        using var dir = new TestFolder();
        var path = Path.Combine(dir.Path, "events.jsonl");
        await using var writer = Appender(path);
        await using var file = Reader(path);
        var reader = new WholeLineReader(file);

        await WriteAsync(writer, "{\"a\":1}\n{\"b\":");
        Assert.Equal("{\"a\":1}", await reader.ReadLineAsync(Ct));
        Assert.Null(await reader.ReadLineAsync(Ct));
        Assert.Null(await reader.ReadLineAsync(Ct));

        await WriteAsync(writer, "2}\r\n");
        Assert.Equal("{\"b\":2}", await reader.ReadLineAsync(Ct));
        Assert.Null(await reader.ReadLineAsync(Ct));
    }

    [Fact]
    public async Task LongLineInSmallWrites_SplittingCharacters_ReadWhole()
    {
        using var dir = new TestFolder();
        var path = Path.Combine(dir.Path, "events.jsonl");
        var line = string.Concat(Enumerable.Range(0, 40_000).Select(i => i % 3 == 0 ? "é" : i % 3 == 1 ? "😀" : "x"));
        var bytes = Encoding.UTF8.GetBytes(line + "\n" + "next\n");
        await using var writer = Appender(path);
        await using var file = Reader(path);
        var reader = new WholeLineReader(file);

        List<string> read = [];
        for (var offset = 0; offset < bytes.Length; offset += 7_001)
        {
            await writer.WriteAsync(bytes.AsMemory(offset, Math.Min(7_001, bytes.Length - offset)), Ct);
            await writer.FlushAsync(Ct);
            while (await reader.ReadLineAsync(Ct) is { } whole)
            {
                read.Add(whole);
            }
        }

        Assert.Equal([line, "next"], read);
    }

    [Fact]
    public async Task EventsTail_EventArrivingInTwoWrites_PrintedOnceOpened()
    {
        using var dir = new TestFolder();
        var options = new ServiceOptions { DataDir = dir.Path };
        var ring = EventKeyRing.New(TimeProvider.System);
        Directory.CreateDirectory(Path.GetDirectoryName(options.EventsKeyPath)!);
        await File.WriteAllTextAsync(options.EventsKeyPath, ring.ToJson(), Ct);
        var sealer = new EventSealer(() => ring);
        var first = sealer.Seal(Encoding.UTF8.GetBytes("""{"eventId":"01A","type":"message.created","item":{"content":"first"}}"""));
        var second = sealer.Seal(Encoding.UTF8.GetBytes("""{"eventId":"01B","type":"message.created","item":{"content":"second"}}"""));

        var output = new PrintedLines();
        var errors = new PrintedLines();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        await using (var writer = Appender(options.EventsFilePath))
        {
            await writer.WriteAsync(first, Ct);
            await WriteAsync(writer, "\n");
            await writer.WriteAsync(second.AsMemory(0, second.Length / 2), Ct);
            await writer.FlushAsync(Ct);
            var tail = Task.Run(() => EventsTail.FollowAsync(options,
                new InvocationConfiguration { Output = output, Error = errors }, stop.Token), Ct);

            await UntilAsync(tail, () => output.Lines.Count >= 1);
            await Task.Delay(TimeSpan.FromSeconds(1), Ct);   // four of the tail's polls while the event is half written
            Assert.Single(output.Lines);

            await writer.WriteAsync(second.AsMemory(second.Length / 2), Ct);
            await WriteAsync(writer, "\n");
            await UntilAsync(tail, () => output.Lines.Count >= 2);
            await stop.CancelAsync();
            try
            {
                Assert.Equal(0, await tail);
            }
            catch (OperationCanceledException)
            {
                // Stopped in its poll's delay: what Ctrl+C does.
            }
        }

        var printed = output.Lines;
        Assert.Equal(["first", "second"], printed.Select(l => (string)JsonNode.Parse(l)!["item"]!["content"]!));
        Assert.Contains("Opening sealed items with the event key", string.Join("\n", errors.Lines), StringComparison.Ordinal);
    }

    [Fact]
    public async Task EventsTail_EventsJustBeforeARotation_PrintedBeforeTheNewFilesOnes()
    {
        using var dir = new TestFolder();
        var options = new ServiceOptions { DataDir = dir.Path };
        var output = new PrintedLines();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        await using (var writer = Appender(options.EventsFilePath))
        {
            // Longer than the new file's first event below, so that the tail sees the live file shrink.
            await WriteAsync(writer, "{\"eventId\":\"01A\",\"type\":\"dialogue.created\"}\n");
        }

        var tail = Task.Run(() => EventsTail.FollowAsync(options,
            new InvocationConfiguration { Output = output, Error = new PrintedLines() }, stop.Token), Ct);
        await UntilAsync(tail, () => output.Lines.Count >= 1);

        // Between two of the tail's polls: one more event in the live file, then the file sink's rotation (a rename,
        // and a new live file with an event of its own).
        await using (var writer = Appender(options.EventsFilePath))
        {
            await WriteAsync(writer, "{\"eventId\":\"01B\"}\n");
        }

        File.Move(options.EventsFilePath, Path.Combine(dir.Path, "events-20261205T120000Z.jsonl"));
        await using (var writer = Appender(options.EventsFilePath))
        {
            await WriteAsync(writer, "{\"eventId\":\"01C\"}\n");
        }

        await UntilAsync(tail, () => output.Lines.Count >= 3);
        await stop.CancelAsync();
        try
        {
            await tail;
        }
        catch (OperationCanceledException)
        {
            // Stopped in its poll's delay.
        }

        Assert.Equal(["01A", "01B", "01C"], output.Lines.Select(l => (string)JsonNode.Parse(l)!["eventId"]!));
    }

    private static async Task UntilAsync(Task<int> tail, Func<bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!done())
        {
            if (tail.IsCompleted)
            {
                Assert.Fail($"events tail ended ({await tail}) before printing");
            }

            Assert.True(DateTime.UtcNow < deadline, "not printed within 30 s");
            await Task.Delay(50, Ct);
        }
    }

    private static FileStream Appender(string path) =>
        new(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);

    private static FileStream Reader(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);

    private static async Task WriteAsync(FileStream writer, string text)
    {
        await writer.WriteAsync(Encoding.UTF8.GetBytes(text), Ct);
        await writer.FlushAsync(Ct);
    }

    /// <summary>What the command prints, line by line, readable by the test while the command still writes.</summary>
    private sealed class PrintedLines : TextWriter
    {
        private readonly StringBuilder _line = new();
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _lines = new();

        public override Encoding Encoding => Encoding.UTF8;

        public List<string> Lines => [.. _lines];

        public override void Write(char value)
        {
            if (value == '\n')
            {
                _lines.Enqueue(_line.ToString().TrimEnd('\r'));
                _line.Clear();
            }
            else
            {
                _line.Append(value);
            }
        }
    }
}
