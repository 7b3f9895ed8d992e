using System.Net;
using System.Text.Json.Nodes;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Conformance;

/// <summary>Contract §2–§6 input rules: ids, tags, metadata, dialogue bodies, state size, error codes and fields.</summary>
public abstract class Validation(ApiFixture api) : ConformanceTest(api)
{
    private readonly Dictionary<string, string> _dialogues = [];

    private static void AssertFieldStartsWith(JsonObject error, string prefix) =>
        Assert.Contains(error.DetailFields(), f => f.StartsWith(prefix, StringComparison.Ordinal));

    private async Task<JsonArray> ListAsync(string path) => (await GetAsync(path)).Expect(HttpStatusCode.OK).Object["items"]!.AsArray();

    /// <summary>POSTs <paramref name="extra"/> merged into a valid create body of the resource; returns the response.</summary>
    private async Task<ApiResponse> CreateWithAsync(string resource, string ns, string extraJson)
    {
        var extra = JsonNode.Parse(extraJson)!.AsObject();
        switch (resource)
        {
            case "dialogue":
                return await PostAsync($"dialogue?namespace={ns}", extra);
            case "memory":
                extra.TryAdd("value", "v");
                return await PostAsync($"memory?namespace={ns}", extra);
            default:
                var dialogueId = await DialogueInAsync(ns);
                extra.TryAdd("role", "user");
                extra.TryAdd("content", "c");
                return await PostAsync($"message?dialogueId={dialogueId}&namespace={ns}", extra);
        }
    }

    private async Task<string> DialogueInAsync(string ns)
    {
        if (!_dialogues.TryGetValue(ns, out var id))
        {
            id = Str((await CreateDialogueAsync(ns))["id"]);
            _dialogues[ns] = id;
        }

        return id;
    }

    /// <summary>How many rows of the resource the namespace holds (messages: in its dialogue).</summary>
    private async Task<int> CountAsync(string resource, string ns) => resource switch
    {
        "dialogue" => (await ListAsync($"dialogue?namespace={ns}")).Count,
        "memory" => (await ListAsync($"memory?namespace={ns}")).Count,
        _ => (await ListAsync($"messages?dialogueId={await DialogueInAsync(ns)}&namespace={ns}")).Count,
    };

    [Theory]
    [InlineData("dialogue")]
    [InlineData("message")]
    [InlineData("memory")]
    public async Task Id_MaxLengthAndAllowedCharacters_Accepted(string resource)
    {
        var ns = NewNamespace();
        var id = "Az09._:@-_" + Guid.NewGuid().ToString("N");
        id += new string('z', 128 - id.Length);

        var created = (await CreateWithAsync(resource, ns, $$"""{"id":"{{id}}"}""")).Expect(HttpStatusCode.OK).Object;

        Assert.Equal(id, Str(created["id"]));
        var path = resource switch
        {
            "dialogue" => $"dialogue/{id}?namespace={ns}",
            "memory" => $"memory/{id}?namespace={ns}",
            _ => $"message/{id}?dialogueId={Str(created["dialogueId"])}&namespace={ns}",
        };
        Assert.Equal(id, Str((await GetAsync(path)).Expect(HttpStatusCode.OK).Object["id"]));
    }

    [Theory]
    [InlineData("dialogue", "\"has space\"")]
    [InlineData("message", "\"slash/inside\"")]
    [InlineData("memory", "\"ümlaut\"")]
    [InlineData("dialogue", "\"comma,inside\"")]
    [InlineData("message", "\"hash#tag\"")]
    [InlineData("memory", "\"question?mark\"")]
    [InlineData("dialogue", "129")]
    [InlineData("message", "129")]
    [InlineData("memory", "129")]
    [InlineData("dialogue", "42")]
    [InlineData("memory", "[\"a\"]")]
    public async Task Id_Invalid_BadRequestAndNothingStored(string resource, string idJson)
    {
        var ns = NewNamespace();
        if (idJson == "129")
        {
            idJson = $"\"{new string('a', 129)}\"";
        }

        var baseline = await CountAsync(resource, ns);

        var error = (await CreateWithAsync(resource, ns, $$"""{"id":{{idJson}}}""")).ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error", "id");

        Assert.StartsWith("Invalid id", Str(error["message"]), StringComparison.Ordinal);
        Assert.Equal(baseline, await CountAsync(resource, ns));
    }

    [Theory]
    [InlineData("dialogue")]
    [InlineData("message")]
    [InlineData("memory")]
    public async Task Id_EmptyString_BadRequest(string resource)
    {
        var ns = NewNamespace();

        (await CreateWithAsync(resource, ns, """{"id":""}""")).ExpectBadRequest("id", "INVALID_PARAMETER", "MISSING_PARAMETER");

        Assert.Equal(0, await CountAsync(resource, ns));
    }

    [Theory]
    [InlineData("dialogue")]
    [InlineData("message")]
    [InlineData("memory")]
    public async Task Tags_TenOfMaxLength_Accepted(string resource)
    {
        var ns = NewNamespace();
        var tags = Enumerable.Range(0, 10).Select(i => $"{i}" + new string('t', 63)).ToList();

        var created = (await CreateWithAsync(resource, ns, new JsonObject { ["tags"] = new JsonArray(tags.Select(t => (JsonNode)t).ToArray()) }.ToJsonString()))
            .Expect(HttpStatusCode.OK).Object;

        Assert.Equal(tags, created["tags"]!.AsArray().Select(t => Str(t)));
    }

    public static TheoryData<string, string> InvalidTags => new()
    {
        { "dialogue", """{"tags":["a","b","c","d","e","f","g","h","i","j","k"]}""" },
        { "message", """{"tags":["a","b","c","d","e","f","g","h","i","j","k"]}""" },
        { "memory", """{"tags":["a","b","c","d","e","f","g","h","i","j","k"]}""" },
        { "dialogue", """{"tags":["ok",""]}""" },
        { "message", """{"tags":[""]}""" },
        { "memory", """{"tags":["ok",""]}""" },
        { "dialogue", "{\"tags\":[\"" + new string('x', 65) + "\"]}" },
        { "message", "{\"tags\":[\"" + new string('x', 65) + "\"]}" },
        { "memory", "{\"tags\":[\"" + new string('x', 65) + "\"]}" },
        { "dialogue", """{"tags":"support"}""" },
        { "message", """{"tags":"support"}""" },
        { "memory", """{"tags":"support"}""" },
        { "dialogue", """{"tags":["ok",1]}""" },
        { "memory", """{"tags":[null]}""" },
        { "message", """{"tags":{"a":"b"}}""" },
    };

    [Theory]
    [MemberData(nameof(InvalidTags))]
    public async Task Tags_InvalidOnCreate_BadRequestAndNothingStored(string resource, string body)
    {
        var ns = NewNamespace();
        var baseline = await CountAsync(resource, ns);

        var error = (await CreateWithAsync(resource, ns, body)).ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error");

        AssertFieldStartsWith(error, "tags");
        Assert.StartsWith("Invalid tags", Str(error["message"]), StringComparison.Ordinal);
        Assert.Equal(baseline, await CountAsync(resource, ns));
    }

    [Theory]
    [InlineData("""{"tags":["a","b","c","d","e","f","g","h","i","j","k"]}""")]
    [InlineData("""{"tags":"single"}""")]
    [InlineData("""{"tags":[""]}""")]
    public async Task Tags_InvalidOnUpdate_BadRequestAndUnchanged(string body)
    {
        var ns = NewNamespace();
        var dialogue = await CreateDialogueAsync(ns, new { tags = (string[])["orig"] });
        var dialogueId = Str(dialogue["id"]);
        var messageId = Str((await AddMessageAsync(ns, dialogueId, new { role = "user", content = "x", tags = (string[])["orig"] }))["id"]);
        var memoryId = Str((await CreateMemoryAsync(ns, new { value = 1, tags = (string[])["orig"] }))["id"]);

        foreach (var (path, get) in new[]
        {
            ($"dialogue/{dialogueId}?namespace={ns}", $"dialogue/{dialogueId}?namespace={ns}"),
            ($"message/{messageId}?dialogueId={dialogueId}&namespace={ns}", $"message/{messageId}?dialogueId={dialogueId}&namespace={ns}"),
            ($"memory/{memoryId}?namespace={ns}", $"memory/{memoryId}?namespace={ns}"),
        })
        {
            var error = (await PutAsync(path, body)).ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error");
            AssertFieldStartsWith(error, "tags");
            Assert.Equal("""["orig"]""", Compact((await GetAsync(get)).Expect(HttpStatusCode.OK).Object["tags"]));
        }
    }

    [Theory]
    [InlineData("dialogue")]
    [InlineData("message")]
    [InlineData("memory")]
    public async Task Metadata_FlatWithinLimits_AcceptedAsSent(string resource)
    {
        var ns = NewNamespace();
        var metadata = new JsonObject
        {
            ["s"] = "text",
            ["n"] = 12.5,
            ["i"] = -3,
            ["b"] = false,
            ["list"] = new JsonArray("x", "y"),
            ["empty"] = new JsonArray(),
            [new string('k', 64)] = "longest key",
        };
        for (var i = metadata.Count; i < 50; i++)
        {
            metadata[$"key{i}"] = new string('v', 200);
        }

        var created = (await CreateWithAsync(resource, ns, new JsonObject { ["metadata"] = metadata.DeepClone() }.ToJsonString()))
            .Expect(HttpStatusCode.OK).Object;

        Assert.Equal(Compact(metadata), Compact(created["metadata"]));
    }

    public static TheoryData<string, string> InvalidMetadata()
    {
        var tooMany = new JsonObject();
        for (var i = 0; i < 51; i++)
        {
            tooMany[$"k{i}"] = i;
        }

        var tooBig = new JsonObject();
        for (var i = 0; i < 20; i++)
        {
            tooBig[$"k{i}"] = new string('v', 1000);
        }

        var cases = new[]
        {
            """{"nested":{"a":1}}""",
            """{"numbers":[1,2]}""",
            """{"objects":[{"a":"b"}]}""",
            """{"nil":null}""",
            "{\"" + new string('k', 65) + "\":\"v\"}",
            tooMany.ToJsonString(),
            tooBig.ToJsonString(),
            """["not","an","object"]""",
            "\"just a string\"",
        };
        var data = new TheoryData<string, string>();
        var resources = new[] { "dialogue", "message", "memory" };
        for (var i = 0; i < cases.Length; i++)
        {
            data.Add(resources[i % 3], cases[i]);
            data.Add(resources[(i + 1) % 3], cases[i]);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(InvalidMetadata))]
    public async Task Metadata_Invalid_BadRequestAndNothingStored(string resource, string metadata)
    {
        var ns = NewNamespace();
        var baseline = await CountAsync(resource, ns);

        var error = (await CreateWithAsync(resource, ns, $$"""{"metadata":{{metadata}}}""")).ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error");

        AssertFieldStartsWith(error, "metadata");
        Assert.Equal(baseline, await CountAsync(resource, ns));
    }

    [Fact]
    public async Task CreateDialogue_MessageAndMessages_BadRequestAndNothingStored()
    {
        var ns = NewNamespace();

        (await PostAsync($"dialogue?namespace={ns}", """{"message":{"role":"user","content":"a"},"messages":[{"role":"user","content":"b"}]}"""))
            .ExpectBadRequest(null, "INVALID_PARAMETER", "VALIDATION_ERROR");

        Assert.Empty(await ListAsync($"dialogue?namespace={ns}"));
    }

    [Fact]
    public async Task CreateDialogue_TwentyFiveMessages_Accepted()
    {
        var ns = NewNamespace();
        var messages = Enumerable.Range(0, 25).Select(i => new { role = "user", content = $"c{i}" }).ToList();

        var dialogue = await CreateDialogueAsync(ns, new { messages });

        Assert.Equal(25, Num(dialogue["totalMessages"]));
        Assert.Equal(messages.Select(m => m.content), dialogue["messages"]!.AsArray().Select(m => Str(m!["content"])));
    }

    [Fact]
    public async Task CreateDialogue_TwentySixMessages_BadRequestAndNothingStored()
    {
        var ns = NewNamespace();
        var messages = Enumerable.Range(0, 26).Select(i => new { role = "user", content = $"c{i}" }).ToList();

        (await PostAsync($"dialogue?namespace={ns}", new { messages })).ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error", "messages");

        Assert.Empty(await ListAsync($"dialogue?namespace={ns}"));
    }

    [Fact]
    public async Task CreateDialogue_SecondMessageWithoutContent_FieldPathAndNothingStored()
    {
        var ns = NewNamespace();

        var error = (await PostAsync($"dialogue?namespace={ns}", """{"messages":[{"role":"user","content":"ok"},{"role":"assistant"}]}"""))
            .ExpectError(HttpStatusCode.BadRequest, "MISSING_PARAMETER", "validation_error", "messages[1].content");

        Assert.Equal("messages[1].content is required", Str(error["message"]));
        Assert.Empty(await ListAsync($"dialogue?namespace={ns}"));
    }

    [Theory]
    [InlineData("""{"label":5}""", "label")]
    [InlineData("""{"label":{"a":1}}""", "label")]
    [InlineData("""{"state":"not an object"}""", "state")]
    [InlineData("""{"state":[1,2]}""", "state")]
    [InlineData("""{"messages":"hello"}""", "messages")]
    [InlineData("""{"messages":{"role":"user","content":"x"}}""", "messages")]
    [InlineData("""{"message":"hello"}""", "message")]
    [InlineData("""{"created":"not a date"}""", "created")]
    [InlineData("""{"created":"2024-02-30T00:00:00.000Z"}""", "created")]
    [InlineData("""{"created":12345}""", "created")]
    [InlineData("""{"threadOf":7}""", "threadOf")]
    [InlineData("""{"messages":[{"role":"user","content":"x","created":"soon"}]}""", "messages[0].created")]
    public async Task CreateDialogue_InvalidField_InvalidParameterNamingField(string body, string field)
    {
        var ns = NewNamespace();

        var error = (await PostAsync($"dialogue?namespace={ns}", body)).ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error", field);

        Assert.StartsWith($"Invalid {field}", Str(error["message"]), StringComparison.Ordinal);
        Assert.Empty(await ListAsync($"dialogue?namespace={ns}"));
    }

    [Fact]
    public async Task CreateMessage_UnparseableCreated_InvalidParameter()
    {
        var ns = NewNamespace();
        var dialogueId = await DialogueInAsync(ns);

        (await PostAsync($"message?dialogueId={dialogueId}&namespace={ns}", """{"role":"user","content":"x","created":"31/12/2024"}"""))
            .ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error", "created");

        Assert.Empty(await ListAsync($"messages?dialogueId={dialogueId}&namespace={ns}"));
    }

    [Theory]
    [InlineData("""{"role":"user","content":"x","name":5}""", "name")]
    [InlineData("""{"role":"user","content":"x","name":{"first":"a"}}""", "name")]
    [InlineData("""{"role":"user","content":"x","created":false}""", "created")]
    [InlineData("""{"role":"user","content":"x","metadata":"flat"}""", "metadata")]
    public async Task CreateMessage_WrongFieldType_InvalidParameter(string body, string field)
    {
        var ns = NewNamespace();
        var dialogueId = await DialogueInAsync(ns);

        (await PostAsync($"message?dialogueId={dialogueId}&namespace={ns}", body))
            .ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error", field);

        Assert.Empty(await ListAsync($"messages?dialogueId={dialogueId}&namespace={ns}"));
    }

    [Theory]
    [InlineData("""{"value":1,"label":5}""", "label")]
    [InlineData("""{"value":1,"description":["d"]}""", "description")]
    [InlineData("""{"value":1,"term":3}""", "term")]
    public async Task CreateMemory_WrongFieldType_InvalidParameter(string body, string field)
    {
        var ns = NewNamespace();

        (await PostAsync($"memory?namespace={ns}", body)).ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error", field);

        Assert.Empty(await ListAsync($"memory?namespace={ns}"));
    }

    [Fact]
    public async Task CreateMessage_RoleAndContentMissing_ValidationErrorListsBoth()
    {
        var ns = NewNamespace();
        var dialogueId = await DialogueInAsync(ns);

        var error = (await PostAsync($"message?dialogueId={dialogueId}&namespace={ns}", """{"name":"nobody"}"""))
            .ExpectError(HttpStatusCode.BadRequest, "VALIDATION_ERROR", "validation_error");

        Assert.Contains("role", error.DetailFields());
        Assert.Contains("content", error.DetailFields());
    }

    [Fact]
    public async Task CreateDialogue_SeveralInvalidFields_ValidationErrorListsAll()
    {
        var ns = NewNamespace();

        var error = (await PostAsync($"dialogue?namespace={ns}", """{"label":5,"tags":"x","state":[],"created":"never"}"""))
            .ExpectError(HttpStatusCode.BadRequest, "VALIDATION_ERROR", "validation_error");

        var fields = error.DetailFields();
        foreach (var field in (string[])["label", "tags", "state", "created"])
        {
            Assert.Contains(fields, f => f.StartsWith(field, StringComparison.Ordinal));
        }

        Assert.All(error["details"]!.AsArray(), d => Assert.False(string.IsNullOrEmpty((string?)d!["message"])));
        Assert.Empty(await ListAsync($"dialogue?namespace={ns}"));
    }

    [Fact]
    public async Task CreateMemory_ValueMissingAndTermInvalid_ValidationErrorListsBoth()
    {
        var ns = NewNamespace();

        var error = (await PostAsync($"memory?namespace={ns}", """{"term":"eternal"}""")).ExpectError(HttpStatusCode.BadRequest, "VALIDATION_ERROR", "validation_error");

        Assert.Contains("value", error.DetailFields());
        Assert.Contains("term", error.DetailFields());
    }

    [Fact]
    public async Task CreateDialogue_BatchItemsWithSeveralErrors_ValidationErrorWithIndexedPaths()
    {
        var ns = NewNamespace();

        var error = (await PostAsync($"dialogue?namespace={ns}", """{"messages":[{"content":"no role"},{"role":"user","content":""},{"role":"user","content":"fine"}]}"""))
            .ExpectError(HttpStatusCode.BadRequest, "VALIDATION_ERROR", "validation_error");

        Assert.Contains("messages[0].role", error.DetailFields());
        Assert.Contains("messages[1].content", error.DetailFields());
        Assert.Empty(await ListAsync($"dialogue?namespace={ns}"));
    }

    private static string BigState(int bytes) => $$"""{"blob":"{{new string('s', bytes)}}"}""";

    [Fact]
    public async Task MergeState_OverOneMegabyte_PayloadTooLargeAndUnchanged()
    {
        var ns = NewNamespace();
        var id = Str((await CreateDialogueAsync(ns, new { state = new { keep = 1 } }))["id"]);

        (await PutAsync($"dialogue/{id}/state?namespace={ns}", BigState(1_100_000)))
            .ExpectError(HttpStatusCode.RequestEntityTooLarge, "PAYLOAD_TOO_LARGE", "validation_error");

        Assert.Equal("""{"keep":1}""", Compact((await GetDialogueAsync(ns, id))["state"]));
    }

    [Fact]
    public async Task MergeState_CumulativeOverOneMegabyte_PayloadTooLarge()
    {
        var ns = NewNamespace();
        var id = Str((await CreateDialogueAsync(ns))["id"]);
        (await PutAsync($"dialogue/{id}/state?namespace={ns}", $$"""{"a":"{{new string('a', 600_000)}}"}""")).Expect(HttpStatusCode.OK);

        (await PutAsync($"dialogue/{id}/state?namespace={ns}", $$"""{"b":"{{new string('b', 600_000)}}"}"""))
            .ExpectError(HttpStatusCode.RequestEntityTooLarge, "PAYLOAD_TOO_LARGE", "validation_error");

        var state = (await GetDialogueAsync(ns, id))["state"]!.AsObject();
        Assert.Equal(600_000, Str(state["a"]).Length);
        Assert.False(state.ContainsKey("b"));
    }

    [Fact]
    public async Task State_UnderOneMegabyte_Accepted()
    {
        var ns = NewNamespace();
        var id = Str((await CreateDialogueAsync(ns, $$"""{"state":{{BigState(900_000)}}}"""))["id"]);

        Assert.Equal(900_000, Str((await GetDialogueAsync(ns, id))["state"]!["blob"]).Length);
    }

    [Fact]
    public async Task CreateOrReplaceState_OverOneMegabyte_PayloadTooLarge()
    {
        var ns = NewNamespace();

        (await PostAsync($"dialogue?namespace={ns}", $$"""{"state":{{BigState(1_100_000)}}}"""))
            .ExpectError(HttpStatusCode.RequestEntityTooLarge, "PAYLOAD_TOO_LARGE", "validation_error");
        Assert.Empty(await ListAsync($"dialogue?namespace={ns}"));

        var id = Str((await CreateDialogueAsync(ns, new { state = new { keep = true } }))["id"]);
        (await PutAsync($"dialogue/{id}?namespace={ns}", $$"""{"state":{{BigState(1_100_000)}}}"""))
            .ExpectError(HttpStatusCode.RequestEntityTooLarge, "PAYLOAD_TOO_LARGE", "validation_error");
        Assert.Equal("""{"keep":true}""", Compact((await GetDialogueAsync(ns, id))["state"]));
    }

    [Theory]
    [InlineData("[1,2,3]")]
    [InlineData("\"text\"")]
    [InlineData("42")]
    [InlineData("null")]
    public async Task MergeState_NonObjectBody_InvalidParameter(string body)
    {
        var ns = NewNamespace();
        var id = Str((await CreateDialogueAsync(ns, new { state = new { keep = 1 } }))["id"]);

        (await PutAsync($"dialogue/{id}/state?namespace={ns}", body)).ExpectBadRequest(null, "INVALID_PARAMETER", "MISSING_PARAMETER");

        Assert.Equal("""{"keep":1}""", Compact((await GetDialogueAsync(ns, id))["state"]));
    }

    [Theory]
    [InlineData("""{"label":7}""", "label")]
    [InlineData("""{"state":"x"}""", "state")]
    [InlineData("""{"tags":[3]}""", "tags")]
    public async Task UpdateDialogue_InvalidField_InvalidParameter(string body, string field)
    {
        var ns = NewNamespace();
        var id = Str((await CreateDialogueAsync(ns, new { label = "kept" }))["id"]);

        var error = (await PutAsync($"dialogue/{id}?namespace={ns}", body)).ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error");

        AssertFieldStartsWith(error, field);
        Assert.Equal("kept", Str((await GetDialogueAsync(ns, id))["label"]));
    }

    [Fact]
    public async Task Errors_DetailEntries_HaveFieldCodeAndMessage()
    {
        var ns = NewNamespace();

        var error = (await PostAsync($"memory?namespace={ns}", new { value = 1, term = "sometimes" }))
            .ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error", "term");

        Assert.StartsWith("Invalid term", Str(error["message"]), StringComparison.Ordinal);
        var detail = Assert.Single(error["details"]!.AsArray())!;
        Assert.Equal("term", Str(detail["field"]));
        Assert.False(string.IsNullOrEmpty((string?)detail["code"]));
        Assert.False(string.IsNullOrEmpty((string?)detail["message"]));
        Assert.DoesNotContain("Exception", error.ToJsonString(), StringComparison.Ordinal);
    }
}

public sealed class ValidationSqlite(SqliteApiFixture api) : Validation(api), IClassFixture<SqliteApiFixture>;

public sealed class ValidationPostgres(PostgresApiFixture api) : Validation(api), IClassFixture<PostgresApiFixture>;
