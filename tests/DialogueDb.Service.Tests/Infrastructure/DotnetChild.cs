namespace DialogueDb.Service.Tests.Infrastructure;

/// <summary>What every .NET process a test starts (the service's CLI, the operator, <c>dotnet run</c>) gets in its environment.</summary>
internal static class DotnetChild
{
    /// <summary>
    /// Turns the runtime's diagnostics (debugger, profiler and EventPipe IPC) off in the child: a child that is killed
    /// leaves its IPC files (<c>clr-debug-pipe-*</c>, <c>dotnet-diagnostic-*-socket</c>) in TMPDIR, a set for every start.
    /// Not for a child that a test reads with a diagnostics tool, nor one whose runtime threads it checks
    /// (<c>ChildTestRun</c>: the debugger's and the diagnostics server's are among them, and the service image runs them).
    /// </summary>
    public static void DisableDiagnostics(IDictionary<string, string?> environment) => environment["DOTNET_EnableDiagnostics"] = "0";
}
