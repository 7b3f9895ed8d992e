using System.Globalization;

namespace DialogueDb.Service.Hosting;

/// <summary>
/// Whether the CPU this process may use is nearly all taken, over the last moment: the cores of the machine (Linux
/// <c>/proc/stat</c>: less than <see cref="IdleFloor"/> of them idle) or, in a container with a CPU limit, the limit
/// itself (cgroup v2 <c>cpu.max</c> and <c>cpu.stat</c>: more than <see cref="QuotaCeiling"/> of it used), or tasks that were
/// ready to run waited for a core more than <see cref="StallCeiling"/> of the time (Linux pressure stall information,
/// <c>/proc/pressure/cpu</c> and the cgroup's <c>cpu.pressure</c>: the "some" total). Background CPU
/// work (the in-process embedding model) waits while it is: the requests counted in flight
/// (<see cref="RequestsInFlight"/>) miss a saturated machine, where requests spend their time queued for a core before
/// the pipeline sees them (measured under the appends load: 0–1 in flight while the cores were saturated). Counters are
/// read at most once per <see cref="Interval"/>; a platform without them is never under pressure. The waiting work's own
/// CPU (<c>ownWork</c>) counts as idle: the model's last batch must not hold back its next one. Idle time alone misses
/// the work that the background work itself displaces: while the model ran, PostgreSQL's processes (another scheduling
/// group, so the model's low priority does not order it behind them) got less CPU and the machine still looked idle
/// enough with the model's share counted as idle (measured: the model took 16% of the service's CPU under a saturating
/// append load). Stalls see it: whoever waited for a core while the model ran shows up in them, the model's own waits
/// included.
/// </summary>
/// <param name="read">Reads a counter file (a path), or null when it does not exist; the files by default.</param>
/// <param name="ownWork">The CPU time the waiting work has used so far (cumulative); none by default.</param>
internal sealed class CpuPressure(TimeProvider time, Func<string, string?>? read = null, Func<TimeSpan>? ownWork = null)
{
    public const double IdleFloor = 0.2;
    public const double QuotaCeiling = 0.8;
    public const double StallCeiling = 0.1;
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);

    private const string MachineStat = "/proc/stat";
    private const string CgroupMax = "/sys/fs/cgroup/cpu.max";
    private const string CgroupStat = "/sys/fs/cgroup/cpu.stat";
    private const string MachineStalls = "/proc/pressure/cpu";
    private const string CgroupStalls = "/sys/fs/cgroup/cpu.pressure";

    /// <summary>The unit of <c>/proc/stat</c> (USER_HZ, 100 on Linux whatever the kernel's own tick rate).</summary>
    private const double TicksPerSecond = 100;

    private readonly Func<string, string?> _read = read ?? ReadFile;
    private readonly Lock _lock = new();
    private long _sampledAt = long.MinValue;
    private (long Idle, long Total)? _machine;
    private long? _cgroupUsageMicros;
    private long? _machineStallMicros;
    private long? _cgroupStallMicros;
    private TimeSpan _own;
    private bool _busy;

    /// <summary>True while the last interval left the machine (or the container's limit) nearly no idle CPU.</summary>
    public bool Busy
    {
        get
        {
            lock (_lock)
            {
                var now = time.GetTimestamp();
                if (_sampledAt != long.MinValue && time.GetElapsedTime(_sampledAt, now) < Interval)
                {
                    return _busy;
                }

                var elapsed = _sampledAt == long.MinValue ? TimeSpan.Zero : time.GetElapsedTime(_sampledAt, now);
                _sampledAt = now;
                var own = ownWork?.Invoke() ?? TimeSpan.Zero;
                var ownSince = own - _own;
                _own = own;
                _busy = MachineBusy(ownSince) | CgroupBusy(elapsed, ownSince)
                    | Stalled(MachineStalls, ref _machineStallMicros, elapsed) | Stalled(CgroupStalls, ref _cgroupStallMicros, elapsed);
                return _busy;
            }
        }
    }

    private bool MachineBusy(TimeSpan ownSince)
    {
        if (Machine(_read(MachineStat)) is not { } sample)
        {
            return false;
        }

        var previous = _machine;
        _machine = sample;
        if (previous is not { } before || sample.Total <= before.Total)
        {
            return false;
        }

        var idle = sample.Idle - before.Idle + (ownSince.TotalSeconds * TicksPerSecond);
        return idle / (sample.Total - before.Total) < IdleFloor;
    }

    private bool CgroupBusy(TimeSpan elapsed, TimeSpan ownSince)
    {
        var cores = CgroupCores(_read(CgroupMax));
        var usage = cores is null ? null : CgroupUsageMicros(_read(CgroupStat));
        var previous = _cgroupUsageMicros;
        _cgroupUsageMicros = usage;
        if (cores is not { } allowed || usage is not { } used || previous is not { } before || elapsed <= TimeSpan.Zero)
        {
            return false;
        }

        return (used - before - ownSince.TotalMicroseconds) / (elapsed.TotalMicroseconds * allowed) > QuotaCeiling;
    }

    /// <summary>Whether tasks waited for a core more than the ceiling's share of the time since the last sample of this file.</summary>
    private bool Stalled(string path, ref long? lastMicros, TimeSpan elapsed)
    {
        var stalled = StallMicros(_read(path));
        var before = lastMicros;
        lastMicros = stalled;
        return stalled is { } now && before is { } then && elapsed > TimeSpan.Zero
            && (now - then) / elapsed.TotalMicroseconds > StallCeiling;
    }

    /// <summary>
    /// The time so far in which at least one task waited for a core (<c>total</c> of the <c>some</c> line of a pressure
    /// file, microseconds), or null.
    /// </summary>
    internal static long? StallMicros(string? pressure)
    {
        foreach (var line in (pressure ?? "").Split('\n'))
        {
            if (!line.StartsWith("some ", StringComparison.Ordinal))
            {
                continue;
            }

            foreach (var field in line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                if (field.StartsWith("total=", StringComparison.Ordinal)
                    && long.TryParse(field.AsSpan("total=".Length), NumberStyles.None, CultureInfo.InvariantCulture, out var micros))
                {
                    return micros;
                }
            }
        }

        return null;
    }

    /// <summary>Idle and total ticks of the machine's first line (<c>cpu user nice system idle iowait …</c>).</summary>
    internal static (long Idle, long Total)? Machine(string? stat)
    {
        var line = stat?.Split('\n', 2)[0];
        if (line is null || !line.StartsWith("cpu ", StringComparison.Ordinal))
        {
            return null;
        }

        var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        long total = 0, idle = 0;
        for (var i = 1; i < fields.Length; i++)
        {
            if (!long.TryParse(fields[i], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks))
            {
                return null;
            }

            // Fields 4 and 5 are idle and iowait; guest time (9, 10) is already counted in user and nice.
            if (i <= 8)
            {
                total += ticks;
            }

            if (i is 4 or 5)
            {
                idle += ticks;
            }
        }

        return fields.Length > 5 ? (idle, total) : null;
    }

    /// <summary>The cores a cgroup v2 limit allows (<c>quota period</c>), or null without a limit.</summary>
    internal static double? CgroupCores(string? max)
    {
        var fields = max?.Trim().Split(' ');
        return fields is [var quota, var period]
            && long.TryParse(quota, NumberStyles.None, CultureInfo.InvariantCulture, out var q)
            && long.TryParse(period, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && q > 0 && p > 0
            ? (double)q / p
            : null;
    }

    /// <summary>The cgroup's CPU time so far (<c>usage_usec</c> of <c>cpu.stat</c>).</summary>
    internal static long? CgroupUsageMicros(string? stat)
    {
        foreach (var line in (stat ?? "").Split('\n'))
        {
            if (line.StartsWith("usage_usec ", StringComparison.Ordinal)
                && long.TryParse(line.AsSpan("usage_usec ".Length), NumberStyles.None, CultureInfo.InvariantCulture, out var micros))
            {
                return micros;
            }
        }

        return null;
    }

    private static string? ReadFile(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path) : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
