using System.CommandLine;
using DialogueDb.Service.Hosting.Commands;

namespace DialogueDb.Service.Hosting;

/// <summary>
/// The <c>dialoguedb</c> command line, one command per file under <c>Commands/</c>. Every option can also be set by its
/// DIALOGUEDB_* environment variable; an option given on the command line wins. Commands write to the invocation's
/// output and error writers: the console, unless the caller gives its own.
/// </summary>
internal static class Cli
{
    public static RootCommand Build()
    {
        var shared = new CliOptions();
        return new RootCommand("DialogueDB: the conversation and memory store for AI applications")
        {
            ServeCommand.Create(shared),
            MigrateCommand.Create(shared),
            KeysCommand.Create(shared),
            EncryptionCommand.Create(shared),
            ReEncryptCommand.Create(shared),
            RelayCommand.Create(shared),
            EventsCommand.Create(shared),
            RetentionCommand.Create(shared),
            IndexCommand.Create(shared),
            ReindexCommand.Create(shared),
        };
    }
}
