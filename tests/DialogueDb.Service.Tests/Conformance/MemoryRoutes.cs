using System.Net;
using System.Text.Json.Nodes;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Conformance;

/// <summary>Contract §6: the memory routes.</summary>
public abstract class MemoryRoutes(ApiFixture api) : ConformanceTest(api)
{
    [Theory]
    [InlineData("api/v1/", "\"remember the milk\"", "string")]
    [InlineData("", "\"日本語 👋 שלום\"", "string")]
    [InlineData("api/v1/", "42", "number")]
    [InlineData("", "-3.25", "number")]
    [InlineData("api/v1/", "true", "boolean")]
    [InlineData("", "false", "boolean")]
    [InlineData("api/v1/", """{"theme":"dark","sizes":[1,2],"nested":{"deep":null}}""", "object")]
    [InlineData("", """[1,"two",{"three":3},[4]]""", "array")]
    [InlineData("api/v1/", "[]", "array")]
    [InlineData("", "{}", "object")]
    public async Task CreateMemory_Value_DetectsTypeAndKeepsJsonType(string prefix, string value, string type)
    {
        var ns = NewNamespace();

        var memory = (await PostAsync($"{prefix}memory?namespace={ns}", $$"""{"value":{{value}}}""")).Expect(HttpStatusCode.OK).Object;

        Assert.Equal(type, Str(memory["type"]));
        Assert.Equal(Compact(value), Compact(memory["value"]));
        var fetched = (await GetAsync($"{prefix}memory/{Str(memory["id"])}?namespace={ns}")).Expect(HttpStatusCode.OK).Object;
        Assert.Equal(Compact(value), Compact(fetched["value"]));
        Assert.Equal(type, Str(fetched["type"]));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task CreateMemory_Minimal_ReturnsDefaults(string prefix)
    {
        var memory = (await PostAsync($"{prefix}memory", new { value = "v" })).Expect(HttpStatusCode.OK).Object;

        AssertUlid(memory["id"]);
        Assert.Equal("long", Str(memory["term"]));
        Assert.Empty(memory["tags"]!.AsArray());
        Assert.Empty(memory["metadata"]!.AsObject());
        AssertTimestamp(memory["created"]);
        AssertTimestamp(memory["modified"]);
        Assert.False(memory.ContainsKey("namespace"));
        Assert.False(memory.ContainsKey("label"));
        Assert.False(memory.ContainsKey("description"));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task CreateMemory_AllFields_RoundTrip(string prefix)
    {
        var ns = NewNamespace();
        var id = Unique("mem");

        var memory = await CreateMemoryAsync(null, new
        {
            id,
            @namespace = ns,
            value = new { theme = "dark" },
            label = "Preferences",
            description = "UI preferences of the user",
            tags = (string[])["prefs", "ui"],
            metadata = new { source = "settings", version = 2 },
            term = "short",
        }, prefix);

        Assert.Equal(id, Str(memory["id"]));
        Assert.Equal(ns, Str(memory["namespace"]));
        Assert.Equal("short", Str(memory["term"]));
        Assert.Equal("Preferences", Str(memory["label"]));
        Assert.Equal("UI preferences of the user", Str(memory["description"]));
        Assert.Equal("""["prefs","ui"]""", Compact(memory["tags"]));
        Assert.Equal("""{"source":"settings","version":2}""", Compact(memory["metadata"]));
        var fetched = (await GetAsync($"{prefix}memory/{id}?namespace={ns}")).Expect(HttpStatusCode.OK).Object;
        Assert.Equal(Compact(memory), Compact(fetched));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task CreateMemory_ColonId_UsableUnescapedInPaths(string prefix)
    {
        var ns = NewNamespace();
        var id = "config:app:settings:" + Guid.NewGuid().ToString("N")[..8];
        await CreateMemoryAsync(ns, new { id, value = "v1" }, prefix);

        Assert.Equal(id, Str((await GetAsync($"{prefix}memory/{id}?namespace={ns}")).Expect(HttpStatusCode.OK).Object["id"]));
        Assert.Equal(id, Str((await GetAsync($"{prefix}memory/{Uri.EscapeDataString(id)}?namespace={ns}")).Expect(HttpStatusCode.OK).Object["id"]));
        var updated = (await PutAsync($"{prefix}memory/{id}?namespace={ns}", new { label = "colon" })).Expect(HttpStatusCode.OK).Object;
        Assert.Equal("colon", Str(updated["label"]));
        (await DeleteAsync($"{prefix}memory/{id}?namespace={ns}")).Expect(HttpStatusCode.OK);
        (await GetAsync($"{prefix}memory/{id}?namespace={ns}")).ExpectError(HttpStatusCode.NotFound, "MEMORY_NOT_FOUND", "not_found");
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task CreateMemory_DuplicateIdInNamespace_Conflict(string prefix)
    {
        var ns = NewNamespace();
        var id = Unique("mem");
        await CreateMemoryAsync(ns, new { id, value = "first" }, prefix);

        (await PostAsync($"{prefix}memory?namespace={ns}", new { id, value = "second" }))
            .ExpectError(HttpStatusCode.Conflict, "DUPLICATE_ID", "conflict");

        Assert.Equal("first", Str((await GetAsync($"{prefix}memory/{id}?namespace={ns}")).Expect(HttpStatusCode.OK).Object["value"]));
    }

    [Theory]
    [InlineData("{}", "MISSING_PARAMETER")]
    [InlineData("""{"label":"no value"}""", "MISSING_PARAMETER")]
    [InlineData("""{"value":null}""", "MISSING_PARAMETER,INVALID_PARAMETER")]
    public async Task CreateMemory_NoValue_BadRequest(string body, string codes)
    {
        var ns = NewNamespace();

        var error = (await PostAsync($"memory?namespace={ns}", body)).ExpectBadRequest("value", codes.Split(','));

        if ((string?)error["code"] == "MISSING_PARAMETER")
        {
            Assert.Equal("value is required", Str(error["message"]));
        }

        Assert.Empty((await GetAsync($"memory?namespace={ns}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray());
    }

    [Theory]
    [InlineData("medium")]
    [InlineData("LONG")]
    [InlineData("")]
    [InlineData(null)]
    public async Task CreateMemory_InvalidTerm_BadRequest(string? term)
    {
        var ns = NewNamespace();
        var body = new JsonObject { ["value"] = "x", ["term"] = term is null ? 7 : term };

        (await PostAsync($"memory?namespace={ns}", body)).ExpectBadRequest("term", "INVALID_PARAMETER", "MISSING_PARAMETER");

        Assert.Empty((await GetAsync($"memory?namespace={ns}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray());
    }

    [Fact]
    public async Task CreateMemory_ValueOverOneMiB_RejectedAndNotStored()
    {
        var ns = NewNamespace();

        var response = await PostAsync($"memory?namespace={ns}", new { value = new string('x', (1024 * 1024) + 64) });

        Assert.True(response.Status is HttpStatusCode.BadRequest or HttpStatusCode.RequestEntityTooLarge, $"got {(int)response.Status}: {response.Body}");
        response.ExpectError(response.Status, (string)response.Object["error"]!["code"]!, "validation_error");
        Assert.Empty((await GetAsync($"memory?namespace={ns}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray());
    }

    [Fact]
    public async Task CreateMemory_ValueJustUnderOneMiB_Accepted()
    {
        var ns = NewNamespace();
        var value = new string('x', (1024 * 1024) - 64);

        var memory = await CreateMemoryAsync(ns, new { value });

        Assert.Equal(value, Str((await GetAsync($"memory/{Str(memory["id"])}?namespace={ns}")).Expect(HttpStatusCode.OK).Object["value"]));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task GetMemory_Unknown_NotFound(string prefix)
    {
        (await GetAsync($"{prefix}memory/{Unique("nope")}?namespace={NewNamespace()}"))
            .ExpectError(HttpStatusCode.NotFound, "MEMORY_NOT_FOUND", "not_found");
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task UpdateMemory_MutableFields_Updated(string prefix)
    {
        var ns = NewNamespace();
        var created = await CreateMemoryAsync(ns, new { value = 1, label = "old", tags = (string[])["a"] }, prefix);
        var id = Str(created["id"]);
        await Task.Delay(20, Ct);

        var updated = (await PutAsync($"{prefix}memory/{id}?namespace={ns}",
            """{"tags":["b","c"],"label":"new","description":"described","term":"short"}""")).Expect(HttpStatusCode.OK).Object;

        Assert.Equal("""["b","c"]""", Compact(updated["tags"]));
        Assert.Equal("new", Str(updated["label"]));
        Assert.Equal("described", Str(updated["description"]));
        Assert.Equal("short", Str(updated["term"]));
        Assert.Equal(1, Num(updated["value"]));
        Assert.True(Time(updated["modified"]) > Time(created["modified"]), "an update advances modified");
        var fetched = (await GetAsync($"{prefix}memory/{id}?namespace={ns}")).Expect(HttpStatusCode.OK).Object;
        Assert.Equal(Compact(updated["tags"]), Compact(fetched["tags"]));
        Assert.Equal("short", Str(fetched["term"]));
        Assert.Equal(Str(created["created"]), Str(fetched["created"]));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task UpdateMemory_EmptyBody_NoOp(string prefix)
    {
        var ns = NewNamespace();
        var created = await CreateMemoryAsync(ns, new { value = "same", label = "kept", tags = (string[])["t"] }, prefix);

        var updated = (await PutAsync($"{prefix}memory/{Str(created["id"])}?namespace={ns}", "{}")).Expect(HttpStatusCode.OK).Object;

        foreach (var field in (string[])["id", "value", "type", "term", "label", "tags", "metadata", "created", "namespace"])
        {
            Assert.Equal(Compact(created[field]), Compact(updated[field]));
        }
    }

    [Theory]
    [InlineData("""{"value":"changed"}""")]
    [InlineData("""{"metadata":{"k":"changed"}}""")]
    [InlineData("""{"label":"ok","value":"changed"}""")]
    public async Task UpdateMemory_ImmutableField_Conflict(string body)
    {
        var ns = NewNamespace();
        var created = await CreateMemoryAsync(ns, new { value = "orig", metadata = new { k = "orig" }, label = "orig" });
        var id = Str(created["id"]);

        (await PutAsync($"memory/{id}?namespace={ns}", body)).ExpectError(HttpStatusCode.Conflict, "IMMUTABLE_FIELD", "conflict");

        var fetched = (await GetAsync($"memory/{id}?namespace={ns}")).Expect(HttpStatusCode.OK).Object;
        Assert.Equal("orig", Str(fetched["value"]));
        Assert.Equal("orig", Str(fetched["metadata"]!["k"]));
        Assert.Equal("orig", Str(fetched["label"]));
    }

    [Fact]
    public async Task UpdateMemory_InvalidTerm_BadRequest()
    {
        var ns = NewNamespace();
        var id = Str((await CreateMemoryAsync(ns, new { value = "v" }))["id"]);

        (await PutAsync($"memory/{id}?namespace={ns}", """{"term":"forever"}""")).ExpectBadRequest("term", "INVALID_PARAMETER");

        Assert.Equal("long", Str((await GetAsync($"memory/{id}?namespace={ns}")).Expect(HttpStatusCode.OK).Object["term"]));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task UpdateMemory_Unknown_NotFound(string prefix)
    {
        (await PutAsync($"{prefix}memory/{Unique("nope")}?namespace={NewNamespace()}", new { label = "x" }))
            .ExpectError(HttpStatusCode.NotFound, "MEMORY_NOT_FOUND", "not_found");
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task DeleteMemory_Existing_DeletedThenNotFound(string prefix)
    {
        var ns = NewNamespace();
        var keep = Str((await CreateMemoryAsync(ns, new { value = "keep" }, prefix))["id"]);
        var drop = Str((await CreateMemoryAsync(ns, new { value = "drop" }, prefix))["id"]);

        var deleted = (await DeleteAsync($"{prefix}memory/{drop}?namespace={ns}")).Expect(HttpStatusCode.OK).Object;

        Assert.Equal(drop, Str(deleted["id"]));
        Assert.True(deleted["deleted"]!.GetValue<bool>());
        (await GetAsync($"{prefix}memory/{drop}?namespace={ns}")).ExpectError(HttpStatusCode.NotFound, "MEMORY_NOT_FOUND", "not_found");
        (await DeleteAsync($"{prefix}memory/{drop}?namespace={ns}")).ExpectError(HttpStatusCode.NotFound, "MEMORY_NOT_FOUND", "not_found");
        Assert.Equal([keep], Ids((await GetAsync($"{prefix}memory?namespace={ns}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray()));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task ListMemories_Namespace_NewestFirst(string prefix)
    {
        var ns = NewNamespace();
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(Str((await CreateMemoryAsync(ns, new { value = i }, prefix))["id"]));
            await Task.Delay(5, Ct);
        }

        await CreateMemoryAsync(NewNamespace(), new { value = "elsewhere" }, prefix);

        var list = (await GetAsync($"{prefix}memory?namespace={ns}")).Expect(HttpStatusCode.OK).Object;

        Assert.Equal(Enumerable.Reverse(ids), Ids(list["items"]!.AsArray()));
        Assert.Null(list["next"]);
    }
}

public sealed class MemoryRoutesSqlite(SqliteApiFixture api) : MemoryRoutes(api), IClassFixture<SqliteApiFixture>;

public sealed class MemoryRoutesPostgres(PostgresApiFixture api) : MemoryRoutes(api), IClassFixture<PostgresApiFixture>;
