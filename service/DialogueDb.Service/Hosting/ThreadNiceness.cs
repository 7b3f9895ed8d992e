using System.Globalization;
using System.Runtime.InteropServices;

namespace DialogueDb.Service.Hosting;

/// <summary>
/// Lowers the calling thread's CPU priority to the lowest there is. On Linux a thread is scheduled as its own task, so
/// its nice value can be raised alone (no privilege needed, allowed under PodSecurity <c>restricted</c>); .NET's
/// <see cref="Thread.Priority"/> does nothing there. Elsewhere the managed priority is used.
/// <para>
/// On Linux a new thread inherits its creator's nice value, and raising it back takes a privilege the service does not
/// have, so a thread started at 19 stays there. A lowered thread that runs managed code must therefore never be the
/// one the runtime creates its own threads on: see <see cref="ReasonNotToLower"/>.
/// </para>
/// </summary>
internal static class ThreadNiceness
{
    /// <summary>
    /// Keeps the runtime's tiered-compilation worker for the life of the process: its idle timeout in milliseconds, in
    /// hexadecimal as the runtime reads it; ffffffff is infinite. Only an environment variable sets it (the runtime
    /// reads no runtimeconfig.json property for it); the service image does.
    /// </summary>
    public const string TieringWorkerTimeoutVariable = "DOTNET_TC_BackgroundWorkerTimeoutMs";

    private const int Lowest = 19;
    private const int PrioProcess = 0;

    /// <summary>
    /// Why a thread that runs managed code must not lower itself in this process, or null when it may. The runtime
    /// creates two of its threads on whichever thread first needs them, and again each time they have idled out; lowered,
    /// that thread would start them at nice 19, where they would starve under the very load the low priority is for:
    /// <list type="bullet">
    /// <item>Under workstation GC the background-GC thread (<c>.NET BGC</c>), created by the thread whose allocation
    /// starts a background collection and gone after 20 s without one; every collection that thread triggers also runs
    /// on it. Server GC creates its background-GC threads on its own GC threads, which do the collections and never
    /// exit. The runtime picks workstation GC by itself on one CPU (e.g. a container CPU limit of 1).</item>
    /// <item>The tiered-compilation worker (<c>.NET Tiered Compilation Worker</c>), created by the thread that queues a
    /// method for optimisation and gone after 4 s idle, unless <see cref="TieringWorkerTimeoutVariable"/> is
    /// <c>ffffffff</c>: then the first one, which the start of the process creates, serves for good.</item>
    /// </list>
    /// (Measured in a small program on .NET 10: a nice-19 thread allocating until a background collection started
    /// created <c>.NET BGC</c> at 19 under workstation GC, also after a normal thread had created it first and it had
    /// idled out; under server GC the threads were at 0. The tiering worker, idle for 6 s, came back at 19 from a nice-19
    /// thread calling a new method under either GC, and stayed at 0 with the variable set.) Thread-pool workers are the
    /// caller's to avoid: the thread that queues work creates one when none is idle.
    /// </summary>
    public static string? ReasonNotToLower()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        if (!System.Runtime.GCSettings.IsServerGC)
        {
            return "the process runs workstation GC, whose background-GC thread would be created by the lowered thread";
        }

        return TieringWorkerIsKept(Environment.GetEnvironmentVariable(TieringWorkerTimeoutVariable))
            ? null
            : $"the tiered-compilation worker could be created by the lowered thread ({TieringWorkerTimeoutVariable}=ffffffff keeps the first one)";
    }

    /// <summary>Whether the variable's value (hexadecimal, as the runtime reads it, with or without 0x) is infinite.</summary>
    public static bool TieringWorkerIsKept(string? timeout)
    {
        var digits = timeout?.Trim();
        if (digits is not null && digits.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            digits = digits[2..];
        }

        return uint.TryParse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var ms) && ms == uint.MaxValue;
    }

    /// <summary>
    /// Returns the thread's nice value after the change (Linux), or null where it cannot be set or read. A thread that
    /// runs managed code asks <see cref="ReasonNotToLower"/> first.
    /// </summary>
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
