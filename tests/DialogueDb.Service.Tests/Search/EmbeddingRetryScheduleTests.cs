using DialogueDb.Service.Search;

namespace DialogueDb.Service.Tests.Search;

public sealed class EmbeddingRetryScheduleTests
{
    [Fact]
    public void After_DoublesFromTenMinutes_UpToADay()
    {
        Assert.Equal(
            [10, 20, 40, 80, 160, 320, 640, 1280, 1440, 1440, 1440],
            new[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1000 }.Select(a => EmbeddingRetrySchedule.After(a).TotalMinutes));
    }
}
