using System.CommandLine;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using DialogueDb.Service.Hosting;

namespace DialogueDb.Service.Tests.Search;

/// <summary>What the indexer-process and reindex tests do through the API and the command line.</summary>
internal static class SearchTestClient
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    public static async Task<string> CreateMemoryAsync(HttpClient client, string ns, string value, CancellationToken ct)
    {
        using var response = await client.PostAsJsonAsync($"api/v1/memory?namespace={ns}", new { value }, ct);
        response.EnsureSuccessStatusCode();
        return (string)(await response.Content.ReadFromJsonAsync<JsonObject>(ct))!["id"]!;
    }

    public static async Task<string> CreateDialogueAsync(HttpClient client, string ns, string content, CancellationToken ct)
    {
        using var response = await client.PostAsJsonAsync($"api/v1/dialogue?namespace={ns}",
            new { messages = new[] { new { role = "user", content } } }, ct);
        response.EnsureSuccessStatusCode();
        return (string)(await response.Content.ReadFromJsonAsync<JsonObject>(ct))!["id"]!;
    }

    /// <summary>The ids a search answers (items of <paramref name="kind"/>; for messages, their dialogue ids).</summary>
    public static async Task<List<string>> SearchAsync(HttpClient client, string ns, string kind, string query, string mode,
        CancellationToken ct)
    {
        using var response = await client.PostAsJsonAsync($"api/v1/search?namespace={ns}", new { query, @object = kind, mode }, ct);
        response.EnsureSuccessStatusCode();
        var items = (await response.Content.ReadFromJsonAsync<JsonObject>(ct))!["items"]!.AsArray();
        return [.. items.Select(i => (string)i![kind == "message" ? "dialogueId" : "id"]!)];
    }

    /// <summary>Searches until the answer holds every id in <paramref name="expected"/>.</summary>
    public static async Task WaitFoundAsync(HttpClient client, string ns, string kind, string query, string mode,
        IEnumerable<string> expected, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (true)
        {
            var ids = await SearchAsync(client, ns, kind, query, mode, ct);
            if (expected.All(ids.Contains))
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"search for '{query}' still answers [{string.Join(", ", ids)}]");
            await Task.Delay(100, ct);
        }
    }

    /// <summary>Searches until the best match is <paramref name="expected"/> (for messages, its dialogue id).</summary>
    public static async Task WaitFirstAsync(HttpClient client, string ns, string kind, string query, string mode, string expected,
        CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (true)
        {
            var ids = await SearchAsync(client, ns, kind, query, mode, ct);
            if (ids.FirstOrDefault() == expected)
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"search for '{query}' still answers [{string.Join(", ", ids)}]");
            await Task.Delay(100, ct);
        }
    }

    /// <summary>Runs a <c>dialoguedb</c> command in-process; its output and errors captured.</summary>
    public static async Task<(int ExitCode, string Output, string Errors)> RunCliAsync(CancellationToken ct, params string[] args)
    {
        using var output = new StringWriter();
        using var errors = new StringWriter();
        var configuration = new InvocationConfiguration { Output = output, Error = errors, EnableDefaultExceptionHandler = false };
        // A command that never finishes fails the test instead of hanging it.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(Deadline * 2);
        var exitCode = await Cli.Build().Parse(args).InvokeAsync(configuration, deadline.Token);
        Assert.False(deadline.IsCancellationRequested && !ct.IsCancellationRequested,
            $"dialoguedb {args[0]} did not finish in time: {output}\n{errors}");
        return (exitCode, output.ToString(), errors.ToString());
    }
}
