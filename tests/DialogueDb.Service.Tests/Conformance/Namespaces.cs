using System.Net;
using System.Text.Json.Nodes;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Conformance;

/// <summary>Contract §2 "Namespaces": a namespace is part of every resource's identity; mismatches are plain 404s.</summary>
public abstract class Namespaces(ApiFixture api) : ConformanceTest(api)
{
    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task Dialogue_OtherOrNoNamespace_NotFoundEverywhere(string prefix)
    {
        var ns = NewNamespace();
        var id = Str((await CreateDialogueAsync(ns, new { label = "mine", message = new { role = "user", content = "hi" } }, prefix))["id"]);

        foreach (var other in new[] { "?namespace=" + NewNamespace(), "" })
        {
            var path = $"{prefix}dialogue/{id}{other}";
            (await GetAsync(path)).ExpectError(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND", "not_found");
            (await PutAsync(path, new { label = "stolen" })).ExpectError(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND", "not_found");
            (await PutAsync($"{prefix}dialogue/{id}/state{other}", new { hacked = true })).ExpectError(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND", "not_found");
            (await PostAsync($"{prefix}dialogue/{id}/end{other}", new JsonObject())).ExpectError(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND", "not_found");
            (await DeleteAsync(path)).ExpectError(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND", "not_found");
            (await PostAsync($"{prefix}dialogue/{id}/messages{other}", new { role = "user", content = "intruder" })).ExpectError(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND", "not_found");
            (await PostAsync($"{prefix}message?dialogueId={id}{other.Replace('?', '&')}", new { role = "user", content = "intruder" })).ExpectError(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND", "not_found");
            (await PostAsync($"{prefix}dialogue{other}", new { threadOf = id })).ExpectError(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND", "not_found");
        }

        var fetched = await GetDialogueAsync(ns, id, prefix);
        Assert.Equal("mine", Str(fetched["label"]));
        Assert.Equal("active", Str(fetched["status"]));
        Assert.Empty(fetched["state"]!.AsObject());
        Assert.Equal(1, Num(fetched["totalMessages"]));
        Assert.Equal(0, Num(fetched["threadCount"]));
    }

    [Fact]
    public async Task Dialogue_DefaultNamespace_NotFoundWithANamespace()
    {
        var id = Str((await CreateDialogueAsync(null, new { label = "default" }))["id"]);

        (await GetAsync($"dialogue/{id}?namespace={NewNamespace()}")).ExpectError(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND", "not_found");
        var fetched = (await GetAsync($"dialogue/{id}")).Expect(HttpStatusCode.OK).Object;
        Assert.Equal("default", Str(fetched["label"]));
        Assert.False(fetched.ContainsKey("namespace"));
    }

    [Fact]
    public async Task Message_OtherNamespace_NotFound()
    {
        var ns = NewNamespace();
        var dialogueId = Str((await CreateDialogueAsync(ns))["id"]);
        var messageId = Str((await AddMessageAsync(ns, dialogueId, new { role = "user", content = "private" }))["id"]);
        var other = NewNamespace();

        var get = await GetAsync($"message/{messageId}?dialogueId={dialogueId}&namespace={other}");
        Assert.Equal(HttpStatusCode.NotFound, get.Status);
        Assert.Contains((string?)get.Object["error"]!["code"], (string[])["DIALOGUE_NOT_FOUND", "MESSAGE_NOT_FOUND"]);
        get.ExpectError(HttpStatusCode.NotFound, (string)get.Object["error"]!["code"]!, "not_found");
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync($"messages?dialogueId={dialogueId}&namespace={other}")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync($"messages?dialogueId={dialogueId}")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await PutAsync($"message/{messageId}?dialogueId={dialogueId}&namespace={other}", """{"tags":["x"]}""")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await DeleteAsync($"message/{messageId}?dialogueId={dialogueId}&namespace={other}")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await DeleteAsync($"dialogue/{dialogueId}/message/{messageId}")).Status);

        var fetched = (await GetAsync($"message/{messageId}?dialogueId={dialogueId}&namespace={ns}")).Expect(HttpStatusCode.OK).Object;
        Assert.Equal(ns, Str(fetched["namespace"]));
        Assert.Empty(fetched["tags"]!.AsArray());
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task Memory_OtherOrNoNamespace_NotFound(string prefix)
    {
        var ns = NewNamespace();
        var id = Str((await CreateMemoryAsync(ns, new { value = "secret", label = "mine" }, prefix))["id"]);

        foreach (var other in new[] { "?namespace=" + NewNamespace(), "" })
        {
            (await GetAsync($"{prefix}memory/{id}{other}")).ExpectError(HttpStatusCode.NotFound, "MEMORY_NOT_FOUND", "not_found");
            (await PutAsync($"{prefix}memory/{id}{other}", new { label = "stolen" })).ExpectError(HttpStatusCode.NotFound, "MEMORY_NOT_FOUND", "not_found");
            (await DeleteAsync($"{prefix}memory/{id}{other}")).ExpectError(HttpStatusCode.NotFound, "MEMORY_NOT_FOUND", "not_found");
        }

        Assert.Equal("mine", Str((await GetAsync($"{prefix}memory/{id}?namespace={ns}")).Expect(HttpStatusCode.OK).Object["label"]));
    }

    [Fact]
    public async Task Dialogue_SameIdInTwoNamespaces_IndependentRows()
    {
        var (a, b) = (NewNamespace(), NewNamespace());
        var id = Unique("shared");

        await CreateDialogueAsync(a, new { id, label = "in a" });
        await CreateDialogueAsync(b, new { id, label = "in b" });
        (await DeleteAsync($"dialogue/{id}?namespace={a}")).Expect(HttpStatusCode.OK);

        (await GetAsync($"dialogue/{id}?namespace={a}")).ExpectError(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND", "not_found");
        Assert.Equal("in b", Str((await GetDialogueAsync(b, id))["label"]));
    }

    [Fact]
    public async Task Memory_SameIdInTwoNamespaces_IndependentRows()
    {
        var (a, b) = (NewNamespace(), NewNamespace());
        var id = "user:prefs:" + Guid.NewGuid().ToString("N")[..8];

        await CreateMemoryAsync(a, new { id, value = "a" });
        await CreateMemoryAsync(b, new { id, value = "b" });

        Assert.Equal("a", Str((await GetAsync($"memory/{id}?namespace={a}")).Expect(HttpStatusCode.OK).Object["value"]));
        Assert.Equal("b", Str((await GetAsync($"memory/{id}?namespace={b}")).Expect(HttpStatusCode.OK).Object["value"]));
    }

    [Fact]
    public async Task CreateDialogue_QueryAndBodyNamespace_QueryWins()
    {
        var (query, body) = (NewNamespace(), NewNamespace());

        var dialogue = (await PostAsync($"dialogue?namespace={query}", new { @namespace = body })).Expect(HttpStatusCode.OK).Object;

        Assert.Equal(query, Str(dialogue["namespace"]));
        var id = Str(dialogue["id"]);
        (await GetAsync($"dialogue/{id}?namespace={query}")).Expect(HttpStatusCode.OK);
        (await GetAsync($"dialogue/{id}?namespace={body}")).ExpectError(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND", "not_found");
    }

    [Fact]
    public async Task CreateMemory_QueryAndBodyNamespace_QueryWins()
    {
        var (query, body) = (NewNamespace(), NewNamespace());

        var memory = (await PostAsync($"memory?namespace={query}", new { @namespace = body, value = 1 })).Expect(HttpStatusCode.OK).Object;

        Assert.Equal(query, Str(memory["namespace"]));
        (await GetAsync($"memory/{Str(memory["id"])}?namespace={body}")).ExpectError(HttpStatusCode.NotFound, "MEMORY_NOT_FOUND", "not_found");
    }

    [Fact]
    public async Task Lists_Namespace_NeverShowOtherNamespaces()
    {
        var (a, b) = (NewNamespace(), NewNamespace());
        var dialogueA = Str((await CreateDialogueAsync(a))["id"]);
        await CreateDialogueAsync(b);
        var memoryA = Str((await CreateMemoryAsync(a, new { value = 1 }))["id"]);
        await CreateMemoryAsync(b, new { value = 2 });

        Assert.Equal([dialogueA], Ids((await GetAsync($"dialogue?namespace={a}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray()));
        Assert.Equal([memoryA], Ids((await GetAsync($"memory?namespace={a}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray()));
    }

    [Fact]
    public async Task CreateThread_ParentInOtherNamespace_NotFound()
    {
        var parent = Str((await CreateDialogueAsync(NewNamespace()))["id"]);
        var ns = NewNamespace();

        (await PostAsync($"dialogue?namespace={ns}", new { threadOf = parent })).ExpectError(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND", "not_found");

        Assert.Empty((await GetAsync($"dialogue?namespace={ns}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray());
    }

    [Theory]
    [InlineData("has space")]
    [InlineData("slash/inside")]
    [InlineData("ümlaut")]
    [InlineData("semi;colon")]
    [InlineData("comma,inside")]
    public async Task Namespace_InvalidCharacters_BadRequest(string ns)
    {
        (await GetAsync($"dialogue?namespace={Uri.EscapeDataString(ns)}")).ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error", "namespace");
        (await PostAsync("dialogue", new { @namespace = ns })).ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error", "namespace");
        (await PostAsync("memory", new { @namespace = ns, value = 1 })).ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error", "namespace");
    }

    [Fact]
    public async Task Namespace_LengthBounds_128AcceptedAnd129Rejected()
    {
        var ok = "n:" + Guid.NewGuid().ToString("N") + new string('x', 128 - 34);
        Assert.Equal(128, ok.Length);

        var dialogue = await CreateDialogueAsync(ok);
        Assert.Equal(ok, Str(dialogue["namespace"]));
        (await GetAsync($"dialogue?namespace={ok}x")).ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error", "namespace");
        (await PostAsync($"dialogue?namespace={ok}x", new JsonObject())).ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error", "namespace");
    }

    [Fact]
    public async Task Namespace_AllowedPunctuation_Accepted()
    {
        var ns = "Tenant_1.user-2:a@b." + Guid.NewGuid().ToString("N")[..8];

        var dialogue = await CreateDialogueAsync(ns);

        Assert.Equal(ns, Str(dialogue["namespace"]));
        Assert.Equal(Str(dialogue["id"]), Str((await GetDialogueAsync(ns, Str(dialogue["id"])))["id"]));
    }
}

public sealed class NamespacesSqlite(SqliteApiFixture api) : Namespaces(api), IClassFixture<SqliteApiFixture>;

public sealed class NamespacesPostgres(PostgresApiFixture api) : Namespaces(api), IClassFixture<PostgresApiFixture>;
