namespace DialogueDb.Service.Tests.Infrastructure;

/// <summary>
/// A new empty folder under <c>$TMPDIR/dialoguedb-tests</c>, deleted with everything in it on dispose. Dispose it only
/// after whatever writes into it (a host, a Redis server, a child process) has stopped: declare it before them with
/// <c>using</c>, or dispose it last in the fixture's DisposeAsync. The last one deleted takes <c>dialoguedb-tests</c>
/// with it, so a run leaves nothing in TMPDIR.
/// </summary>
internal sealed class TestFolder : IDisposable
{
    private static readonly string Root = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "dialoguedb-tests");

    public TestFolder(string prefix = "")
    {
        Path = System.IO.Path.Combine(Root, prefix + Guid.NewGuid().ToString("N"));
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                Directory.CreateDirectory(Path);
                return;
            }
            catch (IOException ex) when (ex is FileNotFoundException or DirectoryNotFoundException && attempt < 5)
            {
                // The root was made, then removed as empty by another folder's Dispose (in this run or in another
                // checkout's) before this folder was made in it (ENOENT, a FileNotFoundException on Linux): make both again.
            }
        }
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
                break;
            }
            catch (DirectoryNotFoundException)
            {
                break;
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

        DeleteRootIfEmpty();
    }

    /// <summary>
    /// Removes the root only while it is empty (rmdir: never what another test, run or checkout keeps in it), and lets
    /// it be when it holds a folder or is already gone; a folder being made meanwhile makes the root again.
    /// </summary>
    private static void DeleteRootIfEmpty()
    {
        try
        {
            Directory.Delete(Root, recursive: false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }
}
