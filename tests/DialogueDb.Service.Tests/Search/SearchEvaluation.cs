using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using DialogueDb.Service.Storage;
using DialogueDb.Service.Tests.Conformance;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace DialogueDb.Service.Tests.Search;

/// <summary>
/// Search quality on the project's evaluation set (Search/Evaluation/search-eval.json: 320 items, 60 labelled queries —
/// paraphrases, exact identifiers with near-miss distractors, lexical): recall@10 and MRR per mode through the real
/// API on the embedded engine. Asserts the targets and writes the report (make search-eval copies it to
/// tests/.../Search/Evaluation/REPORT.md).
/// </summary>
public sealed class SearchEvaluation(SqliteApiFixture api) : ConformanceTest(api), IClassFixture<SqliteApiFixture>
{
    private static readonly string[] Modes = ["keyword", "semantic", "hybrid"];

    [Fact]
    public async Task EvaluationSet_RecallAndMrr_MeetTheTargets()
    {
        using var file = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "search-eval.json"), Ct));
        var items = file.RootElement.GetProperty("items").EnumerateArray().ToList();
        var queries = file.RootElement.GetProperty("queries").EnumerateArray().ToList();
        var ns = NewNamespace();
        await LoadAsync(ns, items);

        // rank of the relevant item per (mode, query); 0 = not in the top 10
        var ranks = new Dictionary<string, List<(string Kind, int Rank)>>();
        foreach (var mode in Modes)
        {
            ranks[mode] = [];
            foreach (var query in queries)
            {
                var body = new { query = query.GetProperty("query").GetString(), @object = query.GetProperty("object").GetString(), mode, limit = 10 };
                var found = (await PostAsync($"api/v1/search?namespace={ns}", body)).Expect(HttpStatusCode.OK).Object["items"]!.AsArray()
                    .Select(i => Str(i!["id"])).ToList();
                var relevant = query.GetProperty("relevant")[0].GetString()!;
                ranks[mode].Add((query.GetProperty("kind").GetString()!, found.IndexOf(relevant) + 1));
            }
        }

        var report = Report(ranks, items.Count, queries.Count);
        var path = Environment.GetEnvironmentVariable("DIALOGUEDB_SEARCH_EVAL_REPORT") ?? Path.Combine(AppContext.BaseDirectory, "search-eval-report.md");
        await File.WriteAllTextAsync(path, report, Ct);
        TestContext.Current.TestOutputHelper?.WriteLine(report);

        Assert.True(Recall(ranks["hybrid"]) >= 0.9, report);
        Assert.True(Mrr(ranks["semantic"], "paraphrase") > Mrr(ranks["keyword"], "paraphrase"), report);
        Assert.True(Mrr(ranks["keyword"], "identifier") > Mrr(ranks["semantic"], "identifier"), report);
    }

    private async Task LoadAsync(string ns, List<JsonElement> items)
    {
        foreach (var memory in items.Where(i => i.GetProperty("object").GetString() == "memory"))
        {
            (await PostAsync($"api/v1/memory?namespace={ns}", new { id = memory.GetProperty("key").GetString(), value = memory.GetProperty("text").GetString() }))
                .Expect(HttpStatusCode.OK);
        }

        foreach (var dialogue in items.Where(i => i.GetProperty("object").GetString() == "message").GroupBy(i => i.GetProperty("dialogue").GetString()))
        {
            var messages = dialogue.Select(m => new { id = m.GetProperty("key").GetString(), role = "user", content = m.GetProperty("text").GetString() });
            (await PostAsync($"api/v1/dialogue?namespace={ns}", new { id = dialogue.Key, messages })).Expect(HttpStatusCode.OK);
        }

        // Indexed when both queues are empty, keywords and vectors (the embedded engine has no row-level security to bind
        // for this look).
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (true)
        {
            await using var scope = Api.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<DialogueDbContext>();
            if (!await db.SearchQueue.AnyAsync(Ct) && !await db.SearchVectorQueue.AnyAsync(q => !q.Failed, Ct))
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, "the evaluation set was not indexed in time");
            await Task.Delay(200, Ct);
        }
    }

    private static double Recall(IEnumerable<(string Kind, int Rank)> ranks, string? kind = null)
    {
        var selected = ranks.Where(r => kind is null || r.Kind == kind).ToList();
        return selected.Count(r => r.Rank > 0) / (double)selected.Count;
    }

    private static double Mrr(IEnumerable<(string Kind, int Rank)> ranks, string? kind = null)
    {
        var selected = ranks.Where(r => kind is null || r.Kind == kind).ToList();
        return selected.Sum(r => r.Rank > 0 ? 1.0 / r.Rank : 0) / selected.Count;
    }

    private static string Report(Dictionary<string, List<(string Kind, int Rank)>> ranks, int items, int queries)
    {
        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"Search evaluation: {items} items, {queries} queries (recall@10 / MRR)");
        report.AppendLine();
        report.AppendLine("| mode | all | paraphrase (30) | identifier (15) | lexical (15) |");
        report.AppendLine("|---|---|---|---|---|");
        foreach (var (mode, list) in ranks)
        {
            report.Append(CultureInfo.InvariantCulture, $"| {mode} | {Recall(list):0.000} / {Mrr(list):0.000} |");
            foreach (var kind in (string[])["paraphrase", "identifier", "lexical"])
            {
                report.Append(CultureInfo.InvariantCulture, $" {Recall(list, kind):0.000} / {Mrr(list, kind):0.000} |");
            }

            report.AppendLine();
        }

        return report.ToString();
    }
}
