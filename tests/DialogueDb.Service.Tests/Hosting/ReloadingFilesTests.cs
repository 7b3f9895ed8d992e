using DialogueDb.Service.Hosting;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace DialogueDb.Service.Tests.Hosting;

/// <summary>The reload timer on fake time: a changed file takes effect at the next poll, half a second at most.</summary>
public sealed class ReloadingFilesTests : IDisposable
{
    private readonly TestFolder _folder = new();
    private readonly string _path;

    public ReloadingFilesTests() => _path = Path.Combine(_folder.Path, "reloading.txt");

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void ChangedFile_TakesEffectWithinHalfASecond_AndABadOneLeavesTheLastGoodInForce()
    {
        File.WriteAllText(_path, "1");
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var reloading = new ReloadingFiles<string>("test file", [_path], contents => int.Parse(contents[0]).ToString(),
            time, NullLogger.Instance);
        var changes = 0;
        reloading.Changed += _ => changes++;

        File.WriteAllText(_path, "2");
        time.Advance(TimeSpan.FromMilliseconds(499));
        Assert.Equal("1", reloading.Current);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal("2", reloading.Current);
        Assert.Equal(1, changes);

        File.WriteAllText(_path, "not a number");
        time.Advance(TimeSpan.FromMilliseconds(500));
        Assert.Equal("2", reloading.Current);
        Assert.Equal(1, changes);
    }
}
