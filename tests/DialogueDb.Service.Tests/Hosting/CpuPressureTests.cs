using DialogueDb.Service.Hosting;
using Microsoft.Extensions.Time.Testing;

namespace DialogueDb.Service.Tests.Hosting;

public sealed class CpuPressureTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly Dictionary<string, string> _files = [];
    private int _reads;

    private TimeSpan _ownWork;

    private CpuPressure NewPressure() => new(_time, path =>
    {
        _reads++;
        return _files.GetValueOrDefault(path);
    }, () => _ownWork);

    /// <summary>A /proc/stat whose first line adds up to <paramref name="total"/> ticks, <paramref name="idle"/> of them idle or waiting.</summary>
    private void Machine(long total, long idle) =>
        _files["/proc/stat"] = $"cpu  {total - idle - 10} 0 10 {idle - 5} 5 0 0 0 7 0\ncpu0 1 2 3 4 5 6 7 8 0 0\nintr 1 2\n";

    [Fact]
    public void Machine_ReadsIdleAndIowaitAgainstTheFirstEightFields()
    {
        Assert.Equal((9L, 36L), CpuPressure.Machine("cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 1 1 1 1 1 1 1 1 1\n"));
        Assert.Null(CpuPressure.Machine("cpu0 1 2 3 4 5 6 7 8\n"));
        Assert.Null(CpuPressure.Machine("cpu  1 x 3 4 5 6 7 8\n"));
        Assert.Null(CpuPressure.Machine(null));
    }

    [Fact]
    public void Busy_WhenLessThanAFifthOfTheMachineWasIdleSinceTheLastSample()
    {
        var pressure = NewPressure();
        Machine(total: 1_000, idle: 500);
        Assert.False(pressure.Busy); // the first sample has nothing to compare with

        _time.Advance(CpuPressure.Interval);
        Machine(total: 1_200, idle: 510); // 10 of 200 ticks idle
        Assert.True(pressure.Busy);

        _time.Advance(CpuPressure.Interval);
        Machine(total: 1_400, idle: 610); // 100 of 200 idle
        Assert.False(pressure.Busy);
    }

    [Fact]
    public void Busy_ReadsTheCountersAtMostOncePerInterval()
    {
        var pressure = NewPressure();
        Machine(total: 1_000, idle: 500);
        _ = pressure.Busy;
        _time.Advance(CpuPressure.Interval);
        Machine(total: 1_200, idle: 500);
        Assert.True(pressure.Busy);
        var reads = _reads;

        Machine(total: 2_000, idle: 1_300); // idle again, but not looked at before the interval passed
        _time.Advance(CpuPressure.Interval / 2);

        Assert.True(pressure.Busy);
        Assert.Equal(reads, _reads);
    }

    [Fact]
    public void Busy_WhenTheContainerUsedMostOfItsCpuLimit_ThoughTheMachineIdles()
    {
        var pressure = NewPressure();
        Machine(total: 1_000, idle: 900);
        _files["/sys/fs/cgroup/cpu.max"] = "200000 100000\n"; // 2 cores
        _files["/sys/fs/cgroup/cpu.stat"] = "usage_usec 5000000\nuser_usec 4000000\n";
        Assert.False(pressure.Busy);

        _time.Advance(TimeSpan.FromMilliseconds(100));
        Machine(total: 1_100, idle: 990);
        _files["/sys/fs/cgroup/cpu.stat"] = "usage_usec 5180000\n"; // 180 ms of CPU in 100 ms: 90% of 2 cores
        Assert.True(pressure.Busy);

        _time.Advance(TimeSpan.FromMilliseconds(100));
        Machine(total: 1_200, idle: 1_080);
        _files["/sys/fs/cgroup/cpu.stat"] = "usage_usec 5280000\n"; // 50%
        Assert.False(pressure.Busy);
    }

    [Theory]
    [InlineData("max 100000\n", null)]
    [InlineData("150000 100000\n", 1.5)]
    [InlineData("garbage", null)]
    [InlineData(null, null)]
    public void CgroupCores_FromTheQuotaAndPeriod_NoneWithoutALimit(string? max, double? cores)
    {
        Assert.Equal(cores, CpuPressure.CgroupCores(max));
    }

    [Fact]
    public void Busy_NeverWithoutCounters()
    {
        var pressure = NewPressure();
        Assert.False(pressure.Busy);
        _time.Advance(CpuPressure.Interval);
        Assert.False(pressure.Busy);
    }

    [Fact]
    public void Busy_NotFromTheWaitingWorksOwnCpu()
    {
        var pressure = NewPressure();
        Machine(total: 1_000, idle: 500);
        _files["/sys/fs/cgroup/cpu.max"] = "200000 100000\n";
        _files["/sys/fs/cgroup/cpu.stat"] = "usage_usec 5000000\n";
        _ = pressure.Busy;

        // One of the two cores ran the model for the whole second; the rest of the machine left 10 of 200 ticks idle.
        _time.Advance(TimeSpan.FromSeconds(1));
        Machine(total: 1_200, idle: 510);
        _files["/sys/fs/cgroup/cpu.stat"] = "usage_usec 6900000\n"; // 1.9 s of 2: 95% of the limit, half of it the model
        _ownWork += TimeSpan.FromSeconds(1);
        Assert.False(pressure.Busy);

        // The same load without the model: busy.
        _time.Advance(TimeSpan.FromSeconds(1));
        Machine(total: 1_400, idle: 520);
        _files["/sys/fs/cgroup/cpu.stat"] = "usage_usec 8800000\n";
        Assert.True(pressure.Busy);
    }

    [Theory]
    [InlineData("some avg10=0.46 avg60=32.06 avg300=49.52 total=22641495947\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", 22641495947L)]
    [InlineData("full avg10=0.00 avg60=0.00 avg300=0.00 total=7\nsome avg10=1.00 avg60=0.00 avg300=0.00 total=12\n", 12L)]
    [InlineData("some avg10=0.46 total=x\n", null)]
    [InlineData("garbage", null)]
    [InlineData(null, null)]
    public void StallMicros_TheSomeLinesTotal(string? pressure, long? micros)
    {
        Assert.Equal(micros, CpuPressure.StallMicros(pressure));
    }

    [Theory]
    [InlineData("/proc/pressure/cpu")]
    [InlineData("/sys/fs/cgroup/cpu.pressure")]
    public void Busy_WhenTasksWaitedForACoreMoreThanATenthOfTheTime_ThoughTheMachineIdles(string stalls)
    {
        var pressure = NewPressure();
        Machine(total: 1_000, idle: 500);
        _files[stalls] = Stalls(1_000_000);
        Assert.False(pressure.Busy);

        // Half the machine idle, yet for 20 of the last 100 ms something ready to run waited (the model's displaced work).
        _time.Advance(TimeSpan.FromMilliseconds(100));
        Machine(total: 1_020, idle: 510);
        _files[stalls] = Stalls(1_020_000);
        Assert.True(pressure.Busy);

        // 5 ms of 100: a few wake-ups that waited briefly, not a machine that is short of cores.
        _time.Advance(TimeSpan.FromMilliseconds(100));
        Machine(total: 1_040, idle: 520);
        _files[stalls] = Stalls(1_025_000);
        Assert.False(pressure.Busy);
    }

    private static string Stalls(long totalMicros) =>
        $"some avg10=0.00 avg60=0.00 avg300=0.00 total={totalMicros}\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
}
