using System.Diagnostics;
using System.Text;
using DialogueDb.Service.Hosting;

namespace DialogueDb.Service.Tests.Infrastructure;

/// <summary>
/// A <c>dialoguedb</c> command in its own process, as a pod runs it: the built service, the given arguments and
/// DIALOGUEDB_* variables (none inherited from the test's environment). Disposing kills it.
/// </summary>
public sealed class CliProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private CliProcess(Process process) => _process = process;

    /// <summary>What the process wrote so far (standard output and error, interleaved).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    /// <summary>
    /// How to start <c>dialoguedb</c> with <paramref name="args"/>: output redirected, no DIALOGUEDB_* variable of the test's,
    /// diagnostics off (<see cref="DotnetChild.DisableDiagnostics"/>).
    /// </summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "dialoguedb.dll"));
        foreach (var argument in args)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith(ServiceOptions.EnvironmentPrefix, StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(name);
        }

        DotnetChild.DisableDiagnostics(start.Environment);
        return start;
    }

    public static CliProcess Start(IEnumerable<string> args, IReadOnlyDictionary<string, string> environment)
    {
        var start = StartInfo(args);
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var process = new Process { StartInfo = start };
        var cli = new CliProcess(process);
        process.OutputDataReceived += (_, line) => cli.Append(line.Data);
        process.ErrorDataReceived += (_, line) => cli.Append(line.Data);
        if (!process.Start())
        {
            throw new InvalidOperationException("dialoguedb did not start");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return cli;
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
