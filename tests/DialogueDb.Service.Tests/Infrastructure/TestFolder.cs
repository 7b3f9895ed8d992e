namespace DialogueDb.Service.Tests.Infrastructure;

/// <summary>
/// A new empty folder under <c>$TMPDIR/dialoguedb-tests</c>, deleted with everything in it on dispose. Dispose it only
/// after whatever writes into it (a host, a Redis server, a child process) has stopped: declare it before them with
/// <c>using</c>, or dispose it last in the fixture's DisposeAsync.
/// </summary>
internal sealed class TestFolder : IDisposable
{
    public TestFolder(string prefix = "")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "dialoguedb-tests", prefix + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public override string ToString() => Path;

    /// <summary>Stops what writes into the folder (a host, a server; none when it never started), then deletes the folder, also when stopping throws.</summary>
    public async ValueTask DeleteAfterAsync(IAsyncDisposable? writer)
    {
        try
        {
            if (writer is not null)
            {
                await writer.DisposeAsync();
            }
        }
        finally
        {
            Dispose();
        }
    }

    /// <summary>
    /// Best effort: a folder that cannot be deleted is left behind rather than failing the test or hiding its failure.
    /// A second try covers a writer that had not quite stopped (a journal file created while the folder was emptied).
    /// </summary>
    public void Dispose()
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                Directory.Delete(Path, recursive: true);
                return;
            }
            catch (DirectoryNotFoundException)
            {
                return;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                if (attempt == 3)
                {
                    return;
                }

                Thread.Sleep(100 * attempt);
            }
        }
    }
}
