using System.Diagnostics;

namespace DialogueDb.Service.Tests.Infrastructure;

/// <summary>
/// Runs one explicit test of this assembly in a fresh process, for what only a new process shows: which threads the
/// runtime or a native library starts, and from which thread, under a given GC. The child inherits none of this
/// process's <c>DOTNET_</c>, <c>COMPlus_</c> or <c>ORT_</c> (ONNX Runtime) settings but the host's location; it gets the
/// given variables instead.
/// </summary>
internal static class ChildTestRun
{
    /// <summary>Runs the test and asserts that it ran and passed (a skip fails: the child must run its case).</summary>
    public static async Task AssertPassesAsync(Type testClass, string method, IReadOnlyDictionary<string, string> environment,
        CancellationToken ct)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        start.ArgumentList.Add("exec");
        start.ArgumentList.Add(testClass.Assembly.Location);
        start.ArgumentList.Add("-method");
        start.ArgumentList.Add($"{testClass.FullName}.{method}");
        start.ArgumentList.Add("-explicit");
        start.ArgumentList.Add("only");
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("DOTNET_", StringComparison.Ordinal)
            || k.StartsWith("COMPlus_", StringComparison.Ordinal) || k.StartsWith("ORT_", StringComparison.Ordinal)).ToList())
        {
            if (name is not "DOTNET_ROOT" and not "DOTNET_HOST_PATH")
            {
                start.Environment.Remove(name);
            }
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var child = Process.Start(start)!;
        var output = child.StandardOutput.ReadToEndAsync(ct);
        var errors = child.StandardError.ReadToEndAsync(ct);
        try
        {
            // A cap for a hung child, not a speed bar: a child that lowers its indexer's thread to nice 19 took over two
            // minutes on a loaded two-core machine.
            await child.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromMinutes(5), ct);
        }
        finally
        {
            if (!child.HasExited)
            {
                child.Kill(entireProcessTree: true);
            }
        }

        var said = await output + await errors;
        var settings = string.Join(", ", environment.Select(e => $"{e.Key}={e.Value}"));
        Assert.True(child.ExitCode == 0 && said.Contains("Total: 1, Errors: 0, Failed: 0, Skipped: 0", StringComparison.Ordinal),
            $"child process ({settings}) exited with {child.ExitCode}:\n{said}");
    }
}
