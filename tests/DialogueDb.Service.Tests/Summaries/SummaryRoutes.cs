using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using DialogueDb.Service.Storage;
using DialogueDb.Service.Tests.Conformance;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DialogueDb.Service.Tests.Summaries;

/// <summary>
/// Contract §10 summaries through the real service and its worker (extractive provider): 202 then a poll that ends
/// completed, ranges, listing, deletion, errors in the envelope, and the content encrypted at rest. Tests wait for the
/// worker with a deadline, never asserting how fast.
/// </summary>
public abstract class SummaryRoutes(ApiFixture api) : ConformanceTest(api)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    private static readonly string[] Conversation =
    [
        "I want to plan a trip to Lisbon in May with my sister.",
        "Lisbon in May is lovely. Do you prefer the old town or the beaches near Cascais?",
        "We like the old town. Our budget for the hotel is about 120 euros a night.",
        "Then Alfama fits well: small hotels there cost around 110 to 130 euros a night in May.",
        "Great, please also find a fado restaurant for Saturday evening in Alfama.",
    ];

    [Fact]
    public async Task Summarize_AsTheSdkSendsIt_Answers202ThenPollCompletes()
    {
        var ns = NewNamespace();
        var dialogue = await CreateConversationAsync(ns);
        var dialogueId = Str(dialogue["id"]);

        // The SDK sends JSON text without a JSON Content-Type, on the bare path or under /api/v1.
        var accepted = await SendAsync(HttpMethod.Post, $"summary?namespace={ns}", $$"""{"dialogueId":"{{dialogueId}}"}""",
            contentType: "text/plain;charset=UTF-8");
        accepted.Expect(HttpStatusCode.Accepted);
        var summary = accepted.Object;
        AssertUlid(summary["id"]);
        Assert.Equal(dialogueId, Str(summary["dialogueId"]));
        Assert.Equal(Api.ProjectId, Str(summary["projectId"]));
        Assert.Equal(ns, Str(summary["namespace"]));
        Assert.Equal("processing", Str(summary["status"]));
        Assert.Equal("extractive", Str(summary["provider"]));
        Assert.Equal("default", Str(summary["template"]));
        Assert.Null(summary["content"]);
        Assert.Null(summary["error"]);
        AssertTimestamp(summary["created"]);

        var done = await PollAsync(ns, Str(summary["id"]), "summary");
        Assert.Equal("completed", Str(done["status"]));
        var content = Str(done["content"]);
        Assert.Contains("Lisbon", content, StringComparison.Ordinal);
        Assert.InRange(content.Length, 20, 1_200);
        Assert.StartsWith("textrank-", Str(done["model"]), StringComparison.Ordinal);
        Assert.Equal(5, Num(done["messageCount"]));
        Assert.Equal(5, Num(done["summarizedCount"]));
        Assert.Equal(0, Num(done["skippedCount"]));
        Assert.True(Num(done["contentTokenCount"]) > 0);
        Assert.Equal(Str(dialogue["messages"]![0]!["created"]), Str(done["fromCreated"]));
        Assert.Equal(Str(dialogue["messages"]![4]!["created"]), Str(done["toCreated"]));
        // Additive: the messages are unchanged.
        var messages = (await GetAsync($"api/v1/messages?dialogueId={dialogueId}&namespace={ns}")).Expect(HttpStatusCode.OK).Object;
        Assert.Equal(Conversation, messages["items"]!.AsArray().Select(m => Str(m!["content"])));
    }

    [Fact]
    public async Task Summarize_Range_CoversOnlyTheMessagesBetweenStartAndEnd()
    {
        var ns = NewNamespace();
        var dialogue = await CreateConversationAsync(ns);
        var ids = dialogue["messages"]!.AsArray().Select(m => Str(m!["id"])).ToList();

        var accepted = (await PostAsync($"api/v1/summary?namespace={ns}",
            new { dialogueId = Str(dialogue["id"]), id = "range-1", startId = ids[1], endId = ids[3] })).Expect(HttpStatusCode.Accepted);
        var done = await PollAsync(ns, "range-1");

        Assert.Equal("range-1", Str(accepted.Object["id"]));
        Assert.Equal(3, Num(done["messageCount"]));
        Assert.Equal(Str(dialogue["messages"]![1]!["created"]), Str(done["fromCreated"]));
        Assert.Equal(Str(dialogue["messages"]![3]!["created"]), Str(done["toCreated"]));
        Assert.DoesNotContain("fado", Str(done["content"]), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Summarize_EmptyDialogue_CompletesWithNullContent()
    {
        var ns = NewNamespace();
        var dialogue = await CreateDialogueAsync(ns);

        var accepted = (await PostAsync($"api/v1/summary?namespace={ns}", new { dialogueId = Str(dialogue["id"]) })).Expect(HttpStatusCode.Accepted);
        var done = await PollAsync(ns, Str(accepted.Object["id"]));

        Assert.Equal("completed", Str(done["status"]));
        Assert.Null(done["content"]);
        Assert.Equal(0, Num(done["messageCount"]));
    }

    [Fact]
    public async Task Summarize_BadInput_ClearErrorsInTheEnvelope()
    {
        var ns = NewNamespace();
        var dialogue = await CreateConversationAsync(ns);
        var dialogueId = Str(dialogue["id"]);
        var other = await CreateConversationAsync(ns);
        using var readOnly = Api.CreateClient(Api.ReadOnlyApiKey);

        (await PostAsync($"api/v1/summary?namespace={ns}", new { })).Expect(HttpStatusCode.BadRequest, "MISSING_PARAMETER");
        (await PostAsync($"api/v1/summary?namespace={ns}", "[1]")).Expect(HttpStatusCode.BadRequest, "INVALID_PARAMETER");
        (await PostAsync($"api/v1/summary?namespace={ns}", new { dialogueId = 5 })).Expect(HttpStatusCode.BadRequest, "INVALID_PARAMETER");
        (await PostAsync($"api/v1/summary?namespace={ns}", new { dialogueId = "nope" })).Expect(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND");
        (await PostAsync($"api/v1/summary?namespace={NewNamespace()}", new { dialogueId })).Expect(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND");
        var template = (await PostAsync($"api/v1/summary?namespace={ns}", new { dialogueId, template = "haiku" }))
            .Expect(HttpStatusCode.BadRequest, "INVALID_PARAMETER");
        Assert.Equal("template", Str(template.Object["error"]!["details"]![0]!["field"]));
        var range = (await PostAsync($"api/v1/summary?namespace={ns}",
            new { dialogueId, startId = Str(other["messages"]![0]!["id"]) })).Expect(HttpStatusCode.BadRequest, "INVALID_PARAMETER");
        Assert.Equal("startId", Str(range.Object["error"]!["details"]![0]!["field"]));
        var reversed = (await PostAsync($"api/v1/summary?namespace={ns}", new
        {
            dialogueId, startId = Str(dialogue["messages"]![3]!["id"]), endId = Str(dialogue["messages"]![1]!["id"]),
        })).Expect(HttpStatusCode.BadRequest, "INVALID_PARAMETER");
        Assert.Equal("endId", Str(reversed.Object["error"]!["details"]![0]!["field"]));
        (await PostAsync($"api/v1/summary?namespace={ns}", new { dialogueId }, readOnly)).Expect(HttpStatusCode.Forbidden, "FORBIDDEN");
        (await PostAsync($"api/v1/summary?namespace={ns}", new { dialogueId, id = "dup" })).Expect(HttpStatusCode.Accepted);
        (await PostAsync($"api/v1/summary?namespace={ns}", new { dialogueId, id = "dup" })).Expect(HttpStatusCode.Conflict, "DUPLICATE_ID");
        var missing = (await GetAsync($"api/v1/summary/nope?namespace={ns}")).Expect(HttpStatusCode.NotFound, "SUMMARY_NOT_FOUND");
        Assert.Equal("not_found", missing.ErrorType);
        (await DeleteAsync($"summary/nope?namespace={ns}")).Expect(HttpStatusCode.NotFound, "SUMMARY_NOT_FOUND");
        (await GetAsync($"api/v1/summaries?namespace={ns}")).Expect(HttpStatusCode.BadRequest, "MISSING_PARAMETER");
        (await GetAsync($"api/v1/summaries?dialogueId=nope&namespace={ns}")).Expect(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND");
        (await GetAsync($"api/v1/summaries?dialogueId={dialogueId}&bogus=1")).Expect(HttpStatusCode.BadRequest, "INVALID_PARAMETER");
        // A read-only key may read.
        (await GetAsync($"api/v1/summary/dup?namespace={ns}", readOnly)).Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Summaries_ListNewestFirstInPages_DeleteAndDialogueDeleteRemoveThem()
    {
        var ns = NewNamespace();
        var dialogue = await CreateConversationAsync(ns);
        var dialogueId = Str(dialogue["id"]);
        var created = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            created.Add(Str((await PostAsync($"summary?namespace={ns}", new { dialogueId })).Expect(HttpStatusCode.Accepted).Object["id"]));
        }

        var first = (await GetAsync($"api/v1/summaries?dialogueId={dialogueId}&namespace={ns}&limit=2")).Expect(HttpStatusCode.OK).Object;
        var second = (await GetAsync($"summaries?dialogueId={dialogueId}&namespace={ns}&limit=2&next={Str(first["next"])}"))
            .Expect(HttpStatusCode.OK).Object;
        var items = first["items"]!.AsArray().Concat(second["items"]!.AsArray()).ToList();
        // Every summary once, newest first (ids made within one millisecond are not ordered among themselves).
        Assert.Equal(created.Order(), Ids(items).Order());
        var times = items.Select(i => Time(i!["created"])).ToList();
        Assert.Equal(times.OrderDescending(), times);
        Assert.Null(second["next"]);

        var deleted = (await DeleteAsync($"api/v1/summary/{created[0]}?namespace={ns}")).Expect(HttpStatusCode.OK).Object;
        Assert.Equal(created[0], Str(deleted["id"]));
        Assert.True(deleted["deleted"]!.GetValue<bool>());
        (await GetAsync($"api/v1/summary/{created[0]}?namespace={ns}")).Expect(HttpStatusCode.NotFound, "SUMMARY_NOT_FOUND");

        await PollAsync(ns, created[1]);
        (await DeleteAsync($"api/v1/dialogue/{dialogueId}?namespace={ns}")).Expect(HttpStatusCode.OK);
        (await GetAsync($"api/v1/summary/{created[1]}?namespace={ns}")).Expect(HttpStatusCode.NotFound, "SUMMARY_NOT_FOUND");
        (await GetAsync($"api/v1/summary/{created[2]}?namespace={ns}")).Expect(HttpStatusCode.NotFound, "SUMMARY_NOT_FOUND");
        await using var scope = Api.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DialogueDbContext>();
        await db.UseNamespaceAsync(ns, Ct);
        Assert.False(await db.SummaryJobs.AnyAsync(Ct));
        Assert.False(await db.Summaries.AnyAsync(Ct));
    }

    [Fact]
    public async Task Summary_Content_IsEncryptedAtRest()
    {
        var ns = NewNamespace();
        var dialogue = await CreateConversationAsync(ns);
        var id = Str((await PostAsync($"api/v1/summary?namespace={ns}", new { dialogueId = Str(dialogue["id"]) })).Expect(HttpStatusCode.Accepted)
            .Object["id"]);
        var content = Str((await PollAsync(ns, id))["content"]);

        await using var scope = Api.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DialogueDbContext>();
        await db.UseNamespaceAsync(ns, Ct);
        var stored = await db.Summaries.AsNoTracking().SingleAsync(s => s.Id == id, Ct);
        Assert.NotNull(stored.Content);
        Assert.Equal(-1, stored.Content.AsSpan().IndexOf(Encoding.UTF8.GetBytes("Lisbon")));
        Assert.True(stored.Content.Length > content.Length);
    }

    private async Task<JsonObject> CreateConversationAsync(string ns) =>
        await CreateDialogueAsync(ns, new
        {
            messages = Conversation.Select((text, i) => new { role = i % 2 == 0 ? "user" : "assistant", content = text }).ToArray(),
        });

    /// <summary>Polls the summary until it is no longer processing (within the deadline) and returns it.</summary>
    private async Task<JsonObject> PollAsync(string ns, string id, string prefix = "api/v1/summary")
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (true)
        {
            var summary = (await GetAsync($"{prefix}/{id}?namespace={ns}")).Expect(HttpStatusCode.OK).Object;
            if (Str(summary["status"]) != "processing")
            {
                return summary;
            }

            Assert.True(DateTime.UtcNow < deadline, "the summary was still processing at the deadline");
            await Task.Delay(100, Ct);
        }
    }
}

public sealed class SummaryRoutesSqlite(SqliteApiFixture api) : SummaryRoutes(api), IClassFixture<SqliteApiFixture>;

public sealed class SummaryRoutesPostgres(PostgresWithJobsApiFixture api) : SummaryRoutes(api), IClassFixture<PostgresWithJobsApiFixture>;
