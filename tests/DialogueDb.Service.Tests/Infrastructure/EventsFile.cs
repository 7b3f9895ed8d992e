using DialogueDb.Service.Audit;

namespace DialogueDb.Service.Tests.Infrastructure;

/// <summary>
/// The embedded events file as a test reads it while the relay may still be writing: its whole, non-empty lines so
/// far. A line caught between two of the writer's writes is left for the next read (parsed, it would be half an event).
/// </summary>
internal static class EventsFile
{
    public static async Task<List<string>> WholeLinesAsync(string path, CancellationToken ct)
    {
        List<string> lines = [];
        try
        {
            await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var reader = new WholeLineReader(file);
            while (await reader.ReadLineAsync(ct) is { } line)
            {
                if (line.Length > 0)
                {
                    lines.Add(line);
                }
            }
        }
        catch (FileNotFoundException)
        {
            // Not written yet (or rotated away between two reads): no lines.
        }

        return lines;
    }
}
