namespace DialogueDb.Operator.Tests;

/// <summary>The checkout's root (the folder with DialogueDb.sln), for tests that compare generated files with committed ones.</summary>
internal static class RepositoryRoot
{
    public static string Path { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "DialogueDb.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("DialogueDb.sln not found above " + AppContext.BaseDirectory);
    }
}
