using System.Globalization;
using System.Runtime.InteropServices;

namespace DialogueDb.Service.Hosting;

/// <summary>
/// Lowers the calling thread's CPU priority to the lowest there is. On Linux a thread is scheduled as its own task, so
/// its nice value can be raised alone (no privilege needed, allowed under PodSecurity <c>restricted</c>); .NET's
/// <see cref="Thread.Priority"/> does nothing there. Elsewhere the managed priority is used.
/// </summary>
internal static class ThreadNiceness
{
    private const int Lowest = 19;
    private const int PrioProcess = 0;

    /// <summary>Returns the thread's nice value after the change (Linux), or null where it cannot be set or read.</summary>
    public static int? LowerCurrentThread()
    {
        if (!OperatingSystem.IsLinux())
        {
            Thread.CurrentThread.Priority = ThreadPriority.Lowest;
            return null;
        }

        try
        {
            // "/proc/thread-self" links to "<pid>/task/<tid>".
            var target = new FileInfo("/proc/thread-self").LinkTarget;
            if (target is null || !int.TryParse(Path.GetFileName(target), NumberStyles.None, CultureInfo.InvariantCulture, out var tid)
                || SetPriority(PrioProcess, tid, Lowest) != 0)
            {
                return null;
            }

            return CurrentNiceness();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    /// <summary>The calling thread's nice value as the kernel reports it (field 19 of its stat line), Linux only.</summary>
    public static int? CurrentNiceness() => NicenessOf(File.ReadAllText("/proc/thread-self/stat"));

    /// <summary>The nice value in a <c>/proc/…/stat</c> line (field 19).</summary>
    public static int? NicenessOf(string stat)
    {
        // The command name (field 2) may hold spaces; count fields after its closing parenthesis.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return int.TryParse(fields[16], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var nice) ? nice : null;
    }

    // A blittable signature: no marshalling code is generated, so no unsafe code is needed for it.
    [DllImport("libc", EntryPoint = "setpriority")]
    private static extern int SetPriority(int which, int who, int priority);
}
