using System.Text;
using System.Text.Json.Nodes;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Summaries;

/// <summary>§9 for summaries: created (the request's actor), completed (the worker: actor system) and deleted, through the outbox.</summary>
public sealed class SummaryAuditEventTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Summary_CreatedCompletedDeleted_EventsWithTheItem()
    {
        await using var host = await SummaryTestHost.StartAsync("sqlite");
        var dialogue = await host.CreateDialogueAsync("The workshop moves to Tuesday at ten.", "Noted: Tuesday at ten in room four.");
        var id = await host.SummarizeAsync(dialogue);
        var done = await host.WaitFinishedAsync(id);
        await host.SendAsync(HttpMethod.Delete, $"api/v1/summary/{id}");

        var events = await SummaryEventsAsync(host, expected: 3);

        Assert.Equal(["summary.created", "summary.completed", "summary.deleted"], events.Select(e => (string)e["type"]!));
        Assert.All(events, e =>
        {
            Assert.Equal("summary", (string)e["entityType"]!);
            Assert.Equal(id, (string)e["itemId"]!);
            Assert.Equal(dialogue, (string)e["item"]!["dialogueId"]!);
        });
        Assert.Equal("processing", (string)events[0]["item"]!["status"]!);
        Assert.Equal("system", (string)events[1]["actor"]!);
        Assert.Equal((string)done["content"]!, (string)events[1]["item"]!["content"]!);
        Assert.NotEqual("system", (string)events[2]["actor"]!);
    }

    /// <summary>The summary events of the embedded events file, opened with the data folder's event key (within a deadline).</summary>
    private static async Task<List<JsonNode>> SummaryEventsAsync(SummaryTestHost host, int expected)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var ring = EventKeyRing.Parse(await File.ReadAllTextAsync(host.Options.EventsKeyPath, Ct), host.Options.EventsKeyPath);
        while (true)
        {
            var events = (await EventsFile.WholeLinesAsync(host.Options.EventsFilePath, Ct))
                .Select(l => JsonNode.Parse(EventSealer.Open(Encoding.UTF8.GetBytes(l), ring)!)!)
                .Where(e => ((string)e["type"]!).StartsWith("summary.", StringComparison.Ordinal)).ToList();
            if (events.Count >= expected)
            {
                return events;
            }

            Assert.True(DateTime.UtcNow < deadline, $"{events.Count} of {expected} summary events before the deadline");
            await Task.Delay(100, Ct);
        }
    }
}
