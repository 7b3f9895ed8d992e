using System.CommandLine;
using DialogueDb.Service.Hosting;

try
{
    return await Cli.Build().Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (InvalidOperationException ex)
{
    // Configuration and setup errors: one clear line (they name the setting or file, never a secret), exit code 1.
    Console.Error.WriteLine($"dialoguedb: {ex.Message}");
    return 1;
}
