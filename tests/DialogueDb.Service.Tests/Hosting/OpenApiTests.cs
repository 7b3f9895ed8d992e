using System.Net;
using System.Text.Json.Nodes;
using DialogueDb.Service.Hosting;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Hosting;

public sealed class OpenApiTests
{
    [Fact]
    public async Task Document_ListsEveryRouteOnceUnderApiV1WithSummaries()
    {
        var ct = TestContext.Current.CancellationToken;
        using var dataDir = new TestFolder();
        TestProject.Write(dataDir.Path, "openapi");
        await using var host = await ServiceHost.StartAsync(new ServiceOptions { DataDir = dataDir.Path, Urls = "https://127.0.0.1:0" });
        using var client = host.CreateClient();

        using var response = await client.GetAsync("openapi/v1.json", ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var paths = JsonNode.Parse(await response.Content.ReadAsStringAsync(ct))!["paths"]!.AsObject();

        foreach (var route in (string[])["/api/v1/dialogue", "/api/v1/dialogue/{id}", "/api/v1/dialogue/{id}/state", "/api/v1/dialogue/{id}/end",
                     "/api/v1/message", "/api/v1/messages", "/api/v1/messages/{id}", "/api/v1/memory", "/api/v1/memory/{id}"])
        {
            Assert.True(paths.ContainsKey(route), $"{route} is missing from the OpenAPI document");
        }

        Assert.DoesNotContain(paths, p => !p.Key.StartsWith("/api/v1/", StringComparison.Ordinal));
        Assert.All(paths.SelectMany(p => p.Value!.AsObject()), operation =>
            Assert.False(string.IsNullOrEmpty((string?)operation.Value!["summary"]), "an operation has no summary"));
    }
}
