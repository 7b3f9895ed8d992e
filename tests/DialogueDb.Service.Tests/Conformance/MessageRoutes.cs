using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Conformance;

/// <summary>Contract §5: the message routes (current and legacy), content rules and batches.</summary>
public abstract class MessageRoutes(ApiFixture api) : ConformanceTest(api)
{
    private async Task<(string Ns, string DialogueId)> NewDialogueAsync()
    {
        var ns = NewNamespace();
        return (ns, Str((await CreateDialogueAsync(ns))["id"]));
    }

    private async Task<JsonArray> ListMessagesAsync(string ns, string dialogueId, string prefix = "api/v1/") =>
        (await GetAsync($"{prefix}messages?dialogueId={dialogueId}&namespace={ns}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray();

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task CreateMessage_DialogueIdInQuery_ReturnsFullMessage(string prefix)
    {
        var (ns, dialogueId) = await NewDialogueAsync();

        var message = (await PostAsync($"{prefix}message?dialogueId={dialogueId}&namespace={ns}",
            """{"role":"user","content":"Hello there","name":"alice","tags":["greeting"],"metadata":{"lang":"en","score":0.5}}"""))
            .Expect(HttpStatusCode.OK).Object;

        AssertUlid(message["id"]);
        Assert.Equal(dialogueId, Str(message["dialogueId"]));
        Assert.Equal(ns, Str(message["namespace"]));
        Assert.Equal("user", Str(message["role"]));
        Assert.Equal("Hello there", Str(message["content"]));
        Assert.Equal(11, Num(message["contentLength"]));
        Assert.Equal("alice", Str(message["name"]));
        AssertTimestamp(message["created"]);
        AssertTimestamp(message["modified"]);
        Assert.Equal("""["greeting"]""", Compact(message["tags"]));
        Assert.Equal("""{"lang":"en","score":0.5}""", Compact(message["metadata"]));

        var fetched = (await GetAsync($"{prefix}message/{Str(message["id"])}?dialogueId={dialogueId}&namespace={ns}")).Expect(HttpStatusCode.OK).Object;
        Assert.Equal(Compact(message), Compact(fetched));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task CreateMessage_Minimal_HasEmptyTagsAndMetadata(string prefix)
    {
        var (ns, dialogueId) = await NewDialogueAsync();

        var message = (await PostAsync($"{prefix}message?dialogueId={dialogueId}&namespace={ns}", new { role = "assistant", content = "ok" }))
            .Expect(HttpStatusCode.OK).Object;

        Assert.Empty(message["tags"]!.AsArray());
        Assert.Empty(message["metadata"]!.AsObject());
        Assert.False(message.ContainsKey("name"));
    }

    [Fact]
    public async Task CreateMessage_DefaultNamespace_OmitsNamespace()
    {
        var dialogueId = Str((await CreateDialogueAsync(null))["id"]);

        var message = (await PostAsync($"message?dialogueId={dialogueId}", new { role = "user", content = "x" })).Expect(HttpStatusCode.OK).Object;

        Assert.False(message.ContainsKey("namespace"));
        Assert.Equal(dialogueId, Str(message["dialogueId"]));
    }

    [Theory]
    [InlineData("POST", "message", """{"role":"user","content":"x"}""")]
    [InlineData("POST", "messages", """[{"role":"user","content":"x"}]""")]
    [InlineData("POST", "messages", """{"role":"user","content":"x"}""")]
    [InlineData("PUT", "message/{m}", """{"tags":["x"]}""")]
    [InlineData("PUT", "messages/{m}", """{"tags":["x"]}""")]
    [InlineData("DELETE", "message/{m}", null)]
    [InlineData("DELETE", "messages/{m}", null)]
    public async Task MessageRoute_WithoutDialogueId_MissingParameter(string method, string route, string? body)
    {
        var (ns, dialogueId) = await NewDialogueAsync();
        var messageId = Str((await AddMessageAsync(ns, dialogueId, new { role = "user", content = "keep" }))["id"]);

        var error = (await SendAsync(new HttpMethod(method), route.Replace("{m}", messageId, StringComparison.Ordinal) + $"?namespace={ns}", body))
            .ExpectError(HttpStatusCode.BadRequest, "MISSING_PARAMETER", "validation_error", "dialogueId");

        Assert.Equal("dialogueId is required", Str(error["message"]));
        var listed = Assert.Single(await ListMessagesAsync(ns, dialogueId))!;
        Assert.Empty(listed["tags"]!.AsArray());
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task CreateMessage_DialogueIdAndNamespaceInBody_Created(string prefix)
    {
        var (ns, dialogueId) = await NewDialogueAsync();

        var message = (await PostAsync($"{prefix}message", new { dialogueId, @namespace = ns, role = "user", content = "from body" }))
            .Expect(HttpStatusCode.OK).Object;

        Assert.Equal(dialogueId, Str(message["dialogueId"]));
        Assert.Equal([Str(message["id"])], Ids(await ListMessagesAsync(ns, dialogueId, prefix)));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task PostMessages_ObjectBody_ReturnsOneObject(string prefix)
    {
        var (ns, dialogueId) = await NewDialogueAsync();

        var message = (await PostAsync($"{prefix}messages?dialogueId={dialogueId}&namespace={ns}", new { role = "user", content = "single" }))
            .Expect(HttpStatusCode.OK).Object;

        Assert.Equal("single", Str(message["content"]));
        Assert.Single(await ListMessagesAsync(ns, dialogueId, prefix));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task PostMessages_ArrayBody_ReturnsArrayInRequestOrder(string prefix)
    {
        var (ns, dialogueId) = await NewDialogueAsync();
        var contents = Enumerable.Range(1, 6).Select(i => $"msg {i}").ToList();

        var created = (await PostAsync($"{prefix}messages?dialogueId={dialogueId}&namespace={ns}",
            contents.Select(c => new { role = "user", content = c }).ToList())).Expect(HttpStatusCode.OK).Array;

        Assert.Equal(contents, created.Select(m => Str(m!["content"])));
        var listed = await ListMessagesAsync(ns, dialogueId, prefix);
        Assert.Equal(Ids(created), Ids(listed));
        Assert.Equal(6, Num((await GetDialogueAsync(ns, dialogueId, prefix))["totalMessages"]));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task LegacyCreate_ObjectThenArray_CreatesInOrder(string prefix)
    {
        var (ns, dialogueId) = await NewDialogueAsync();

        var one = (await PostAsync($"{prefix}dialogue/{dialogueId}/messages?namespace={ns}", new { role = "user", content = "first" }))
            .Expect(HttpStatusCode.OK).Object;
        var many = (await PostAsync($"{prefix}dialogue/{dialogueId}/messages?namespace={ns}",
            """[{"role":"assistant","content":"second"},{"role":"user","content":"third"}]""")).Expect(HttpStatusCode.OK).Array;

        Assert.Equal(dialogueId, Str(one["dialogueId"]));
        Assert.Equal(2, many.Count);
        var listed = (await GetAsync($"{prefix}dialogue/{dialogueId}/messages?namespace={ns}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray();
        Assert.Equal(["first", "second", "third"], listed.Select(m => Str(m!["content"])));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task LegacyCreate_BodyRepeatsDialogueId_Accepted(string prefix)
    {
        // The SDK's batch helper posts {...message, dialogueId} to the legacy route.
        var (ns, dialogueId) = await NewDialogueAsync();

        var created = (await PostAsync($"{prefix}dialogue/{dialogueId}/messages?namespace={ns}", new { dialogueId, role = "user", content = "sdk" }))
            .Expect(HttpStatusCode.OK).Object;

        Assert.Equal(dialogueId, Str(created["dialogueId"]));
        Assert.Equal("sdk", Str(Assert.Single(await ListMessagesAsync(ns, dialogueId, prefix))!["content"]));
    }

    [Theory]
    [InlineData("api/v1/", "message", false)]
    [InlineData("", "message", false)]
    [InlineData("api/v1/", "messages", true)]
    [InlineData("", "messages", false)]
    public async Task CreateMessage_UnknownDialogue_NotFound(string prefix, string route, bool batch)
    {
        var message = new { role = "user", content = "orphan" };
        (await PostAsync($"{prefix}{route}?dialogueId={Unique("ghost")}&namespace={NewNamespace()}", batch ? new object[] { message } : message))
            .ExpectError(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND", "not_found");
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task CreateMessage_DuplicateIdInDialogue_Conflict(string prefix)
    {
        var (ns, dialogueId) = await NewDialogueAsync();
        var id = Unique("msg");
        await AddMessageAsync(ns, dialogueId, new { id, role = "user", content = "original" });

        (await PostAsync($"{prefix}message?dialogueId={dialogueId}&namespace={ns}", new { id, role = "user", content = "retry" }))
            .ExpectError(HttpStatusCode.Conflict, "DUPLICATE_ID", "conflict");

        var listed = await ListMessagesAsync(ns, dialogueId);
        Assert.Equal("original", Str(Assert.Single(listed)!["content"]));
    }

    [Fact]
    public async Task CreateMessage_SameIdInAnotherDialogue_Allowed()
    {
        var ns = NewNamespace();
        var d1 = Str((await CreateDialogueAsync(ns))["id"]);
        var d2 = Str((await CreateDialogueAsync(ns))["id"]);
        var id = Unique("shared");

        var m1 = await AddMessageAsync(ns, d1, new { id, role = "user", content = "in d1" });
        var m2 = await AddMessageAsync(ns, d2, new { id, role = "user", content = "in d2" });

        Assert.Equal(id, Str(m1["id"]));
        Assert.Equal(id, Str(m2["id"]));
        Assert.Equal("in d1", Str((await GetAsync($"message/{id}?dialogueId={d1}&namespace={ns}")).Expect(HttpStatusCode.OK).Object["content"]));
        Assert.Equal("in d2", Str((await GetAsync($"message/{id}?dialogueId={d2}&namespace={ns}")).Expect(HttpStatusCode.OK).Object["content"]));
    }

    [Fact]
    public async Task CreateMessage_SuppliedCreated_IsKept()
    {
        var (ns, dialogueId) = await NewDialogueAsync();

        var message = await AddMessageAsync(ns, dialogueId, new { role = "user", content = "old", created = "2023-07-01T08:00:00.000Z" });

        Assert.Equal("2023-07-01T08:00:00.000Z", Str(message["created"]));
        Assert.Equal("2023-07-01T08:00:00.000Z", Str(Assert.Single(await ListMessagesAsync(ns, dialogueId))!["created"]));
    }

    [Theory]
    [InlineData("api/v1/", "message")]
    [InlineData("", "message")]
    [InlineData("api/v1/", "messages")]
    [InlineData("", "messages")]
    public async Task GetMessage_ByRoute_ReturnsMessage(string prefix, string route)
    {
        var (ns, dialogueId) = await NewDialogueAsync();
        var created = await AddMessageAsync(ns, dialogueId, new { role = "user", content = "find me" });

        var fetched = (await GetAsync($"{prefix}{route}/{Str(created["id"])}?dialogueId={dialogueId}&namespace={ns}")).Expect(HttpStatusCode.OK).Object;

        Assert.Equal(Compact(created), Compact(fetched));
    }

    [Theory]
    [InlineData("api/v1/", "message")]
    [InlineData("", "messages")]
    public async Task GetMessage_WithoutDialogueId_MissingParameter(string prefix, string route)
    {
        var (ns, dialogueId) = await NewDialogueAsync();
        var created = await AddMessageAsync(ns, dialogueId, new { role = "user", content = "x" });

        var error = (await GetAsync($"{prefix}{route}/{Str(created["id"])}?namespace={ns}"))
            .ExpectError(HttpStatusCode.BadRequest, "MISSING_PARAMETER", "validation_error", "dialogueId");
        Assert.Equal("dialogueId is required", Str(error["message"]));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task GetMessage_Unknown_NotFound(string prefix)
    {
        var (ns, dialogueId) = await NewDialogueAsync();

        (await GetAsync($"{prefix}message/{Unique("nope")}?dialogueId={dialogueId}&namespace={ns}"))
            .ExpectError(HttpStatusCode.NotFound, "MESSAGE_NOT_FOUND", "not_found");
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task ListMessages_WithoutDialogueId_MissingParameter(string prefix)
    {
        var error = (await GetAsync($"{prefix}messages?namespace={NewNamespace()}"))
            .ExpectError(HttpStatusCode.BadRequest, "MISSING_PARAMETER", "validation_error", "dialogueId");
        Assert.Equal("dialogueId is required", Str(error["message"]));
    }

    [Theory]
    [InlineData("api/v1/", "messages?dialogueId={0}&namespace={1}")]
    [InlineData("", "messages?dialogueId={0}&namespace={1}")]
    [InlineData("api/v1/", "dialogue/{0}/messages?namespace={1}")]
    [InlineData("", "dialogue/{0}/messages?namespace={1}")]
    public async Task ListMessages_ByRoute_OldestFirstByDefault(string prefix, string route)
    {
        var (ns, dialogueId) = await NewDialogueAsync();
        var first = await AddMessageAsync(ns, dialogueId, new { role = "user", content = "1" });
        var rest = await AddMessagesAsync(ns, dialogueId, new { role = "assistant", content = "2" }, new { role = "user", content = "3" });

        var list = (await GetAsync(prefix + string.Format(CultureInfo.InvariantCulture, route, dialogueId, ns))).Expect(HttpStatusCode.OK).Object;

        Assert.Equal([Str(first["id"]), Str(rest[0]!["id"]), Str(rest[1]!["id"])], Ids(list["items"]!.AsArray()));
        Assert.Null(list["next"]);
    }

    [Theory]
    [InlineData("api/v1/", "message")]
    [InlineData("", "message")]
    [InlineData("api/v1/", "messages")]
    [InlineData("", "messages")]
    public async Task UpdateMessage_Tags_ReplacesTagsOnly(string prefix, string route)
    {
        var (ns, dialogueId) = await NewDialogueAsync();
        var created = await AddMessageAsync(ns, dialogueId, new { role = "user", content = "tag me", tags = (string[])["a", "b"] });
        var id = Str(created["id"]);

        var updated = (await PutAsync($"{prefix}{route}/{id}?dialogueId={dialogueId}&namespace={ns}", """{"tags":["c"]}""")).Expect(HttpStatusCode.OK).Object;

        Assert.Equal("""["c"]""", Compact(updated["tags"]));
        var fetched = (await GetAsync($"{prefix}message/{id}?dialogueId={dialogueId}&namespace={ns}")).Expect(HttpStatusCode.OK).Object;
        Assert.Equal("""["c"]""", Compact(fetched["tags"]));
        Assert.Equal("tag me", Str(fetched["content"]));
        Assert.Equal(Str(created["created"]), Str(fetched["created"]));
        Assert.True(Time(fetched["modified"]) >= Time(created["modified"]));
        Assert.Equal(Compact(created["contentLength"]), Compact(fetched["contentLength"]));
    }

    [Theory]
    [InlineData("api/v1/", "message", """{"content":"changed"}""")]
    [InlineData("", "messages", """{"content":"changed"}""")]
    [InlineData("api/v1/", "messages", """{"role":"assistant"}""")]
    [InlineData("", "message", """{"role":"assistant"}""")]
    [InlineData("api/v1/", "message", """{"metadata":{"k":"v"}}""")]
    [InlineData("", "messages", """{"tags":["ok"],"content":"changed"}""")]
    public async Task UpdateMessage_ImmutableField_Conflict(string prefix, string route, string body)
    {
        var (ns, dialogueId) = await NewDialogueAsync();
        var created = await AddMessageAsync(ns, dialogueId, new { role = "user", content = "frozen", metadata = new { k = "orig" } });
        var id = Str(created["id"]);

        (await PutAsync($"{prefix}{route}/{id}?dialogueId={dialogueId}&namespace={ns}", body))
            .ExpectError(HttpStatusCode.Conflict, "IMMUTABLE_FIELD", "conflict");

        var fetched = (await GetAsync($"message/{id}?dialogueId={dialogueId}&namespace={ns}")).Expect(HttpStatusCode.OK).Object;
        Assert.Equal(Compact(created["content"]), Compact(fetched["content"]));
        Assert.Equal(Compact(created["role"]), Compact(fetched["role"]));
        Assert.Equal(Compact(created["metadata"]), Compact(fetched["metadata"]));
        Assert.Equal(Compact(created["tags"]), Compact(fetched["tags"]));
    }

    [Theory]
    [InlineData("api/v1/", "message/{1}?dialogueId={0}&namespace={2}")]
    [InlineData("", "message/{1}?dialogueId={0}&namespace={2}")]
    [InlineData("api/v1/", "messages/{1}?dialogueId={0}&namespace={2}")]
    [InlineData("", "messages/{1}?dialogueId={0}&namespace={2}")]
    [InlineData("api/v1/", "dialogue/{0}/message/{1}?namespace={2}")]
    [InlineData("", "dialogue/{0}/message/{1}?namespace={2}")]
    public async Task DeleteMessage_ByRoute_RemovesItAndDecrementsTotal(string prefix, string route)
    {
        var (ns, dialogueId) = await NewDialogueAsync();
        var messages = await AddMessagesAsync(ns, dialogueId, new { role = "user", content = "keep" }, new { role = "user", content = "drop" });
        var dropId = Str(messages[1]!["id"]);

        var deleted = (await DeleteAsync(prefix + string.Format(CultureInfo.InvariantCulture, route, dialogueId, dropId, ns))).Expect(HttpStatusCode.OK).Object;

        Assert.Equal(dropId, Str(deleted["id"]));
        Assert.True(deleted["deleted"]!.GetValue<bool>());
        (await GetAsync($"message/{dropId}?dialogueId={dialogueId}&namespace={ns}")).ExpectError(HttpStatusCode.NotFound, "MESSAGE_NOT_FOUND", "not_found");
        Assert.Equal([Str(messages[0]!["id"])], Ids(await ListMessagesAsync(ns, dialogueId)));
        Assert.Equal(1, Num((await GetDialogueAsync(ns, dialogueId))["totalMessages"]));
        (await DeleteAsync(prefix + string.Format(CultureInfo.InvariantCulture, route, dialogueId, dropId, ns)))
            .ExpectError(HttpStatusCode.NotFound, "MESSAGE_NOT_FOUND", "not_found");
    }

    [Theory]
    [InlineData("""{"z":1,"a":{"y":true,"b":null,"n":[3,1,2]},"m":"text","f":1.5,"big":9007199254740993}""")]
    [InlineData("""[{"type":"text","text":"Look at this"},{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris","unit":"c"}}]""")]
    [InlineData("""[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkAM9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="}}]""")]
    [InlineData("""[{"type":"image","source":{"type":"url","url":"https://example.com/cat.png"}}]""")]
    [InlineData("""[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"high"}}]""")]
    public async Task CreateMessage_StructuredContent_StoredVerbatimWithCompactLength(string content)
    {
        var (ns, dialogueId) = await NewDialogueAsync();

        var created = await AddMessageAsync(ns, dialogueId, $$"""{"role":"user","content":{{content}}}""");

        Assert.Equal(Compact(content), Compact(created["content"]));
        Assert.Equal(Encoding.UTF8.GetByteCount(content), Num(created["contentLength"]));
        var fetched = Assert.Single(await ListMessagesAsync(ns, dialogueId))!;
        Assert.Equal(Compact(content), Compact(fetched["content"]));
        Assert.Equal(Encoding.UTF8.GetByteCount(content), Num(fetched["contentLength"]));
    }

    [Theory]
    [InlineData("Emoji 👋🏽 and family 👨‍👩‍👧")]
    [InlineData("中文内容，日本語のテキスト、한국어")]
    [InlineData("שלום עולם — مرحبا بالعالم")]
    [InlineData("Combining: e\u0301 and zero\u200Bwidth, tab\tnewline\nquote\" backslash\\")]
    public async Task CreateMessage_UnicodeString_RoundTripsWithUtf8Length(string text)
    {
        var (ns, dialogueId) = await NewDialogueAsync();

        var created = await AddMessageAsync(ns, dialogueId, new { role = "user", content = text });

        Assert.Equal(text, Str(created["content"]));
        Assert.Equal(Encoding.UTF8.GetByteCount(text), Num(created["contentLength"]));
        var fetched = (await GetAsync($"message/{Str(created["id"])}?dialogueId={dialogueId}&namespace={ns}")).Expect(HttpStatusCode.OK).Object;
        Assert.Equal(text, Str(fetched["content"]));
        Assert.Equal(Encoding.UTF8.GetByteCount(text), Num(fetched["contentLength"]));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task CreateMessage_AnthropicImageDataUri_InvalidImageContent(string prefix)
    {
        var (ns, dialogueId) = await NewDialogueAsync();

        (await PostAsync($"{prefix}message?dialogueId={dialogueId}&namespace={ns}",
            """{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"data:image/png;base64,iVBORw0KGgo="}}]}"""))
            .ExpectError(HttpStatusCode.BadRequest, "INVALID_IMAGE_CONTENT", "validation_error");

        Assert.Empty(await ListMessagesAsync(ns, dialogueId));
    }

    [Theory]
    [InlineData("\"\"", "MISSING_PARAMETER")]
    [InlineData("[]", "MISSING_PARAMETER,INVALID_PARAMETER")]
    [InlineData("null", "MISSING_PARAMETER,INVALID_PARAMETER")]
    [InlineData("42", "INVALID_PARAMETER")]
    [InlineData("true", "INVALID_PARAMETER")]
    [InlineData("[\"plain string block\"]", "INVALID_PARAMETER")]
    [InlineData("[{\"type\":\"text\",\"text\":\"ok\"},7]", "INVALID_PARAMETER")]
    public async Task CreateMessage_InvalidContent_BadRequest(string content, string codes)
    {
        var (ns, dialogueId) = await NewDialogueAsync();

        var error = (await PostAsync($"message?dialogueId={dialogueId}&namespace={ns}", $$"""{"role":"user","content":{{content}}}"""))
            .ExpectBadRequest(null, codes.Split(','));

        // "content" itself or a path inside it such as "content[1]" (§2: array paths name the element).
        Assert.Contains(error.DetailFields(), f => f.StartsWith("content", StringComparison.Ordinal));

        Assert.Empty(await ListMessagesAsync(ns, dialogueId));
    }

    [Fact]
    public async Task CreateMessage_MissingContent_MissingParameterMessage()
    {
        var (ns, dialogueId) = await NewDialogueAsync();

        var error = (await PostAsync($"message?dialogueId={dialogueId}&namespace={ns}", new { role = "user" }))
            .ExpectError(HttpStatusCode.BadRequest, "MISSING_PARAMETER", "validation_error", "content");

        Assert.Equal("content is required", Str(error["message"]));
    }

    [Theory]
    [InlineData("""{"content":"hi"}""", "MISSING_PARAMETER")]
    [InlineData("""{"role":"","content":"hi"}""", "MISSING_PARAMETER")]
    [InlineData("""{"role":5,"content":"hi"}""", "INVALID_PARAMETER")]
    [InlineData("""{"role":["user"],"content":"hi"}""", "INVALID_PARAMETER")]
    public async Task CreateMessage_InvalidRole_BadRequest(string body, string code)
    {
        var (ns, dialogueId) = await NewDialogueAsync();

        var error = (await PostAsync($"message?dialogueId={dialogueId}&namespace={ns}", body))
            .ExpectError(HttpStatusCode.BadRequest, code, "validation_error", "role");

        if (code == "MISSING_PARAMETER")
        {
            Assert.Equal("role is required", Str(error["message"]));
        }
        else
        {
            Assert.StartsWith("Invalid role", Str(error["message"]), StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("tool")]
    [InlineData("system")]
    [InlineData("narrator")]
    public async Task CreateMessage_AnyNonEmptyRole_Accepted(string role)
    {
        var (ns, dialogueId) = await NewDialogueAsync();

        var created = await AddMessageAsync(ns, dialogueId, new { role, content = "x" });

        Assert.Equal(role, Str(created["role"]));
    }

    [Fact]
    public async Task CreateMessage_ContentJustUnderOneMiB_Accepted()
    {
        var (ns, dialogueId) = await NewDialogueAsync();
        var text = new string('a', (1024 * 1024) - 64);

        var created = await AddMessageAsync(ns, dialogueId, new { role = "user", content = text });

        Assert.Equal(text.Length, Num(created["contentLength"]));
        var fetched = (await GetAsync($"message/{Str(created["id"])}?dialogueId={dialogueId}&namespace={ns}")).Expect(HttpStatusCode.OK).Object;
        Assert.Equal(text, Str(fetched["content"]));
    }

    [Fact]
    public async Task CreateMessage_ContentOverOneMiB_RejectedAndNotStored()
    {
        var (ns, dialogueId) = await NewDialogueAsync();
        var text = new string('a', (1024 * 1024) + 64);

        var response = await PostAsync($"message?dialogueId={dialogueId}&namespace={ns}", new { role = "user", content = text });

        Assert.True(response.Status is HttpStatusCode.BadRequest or HttpStatusCode.RequestEntityTooLarge, $"got {(int)response.Status}: {response.Body}");
        response.ExpectError(response.Status, (string)response.Object["error"]!["code"]!, "validation_error");
        Assert.Empty(await ListMessagesAsync(ns, dialogueId));
    }

    [Fact]
    public async Task PostMessages_HundredItems_AllCreatedInOrder()
    {
        var (ns, dialogueId) = await NewDialogueAsync();
        var batch = Enumerable.Range(0, 100).Select(i => new { role = i % 2 == 0 ? "user" : "assistant", content = $"n{i}" }).ToList();

        var created = (await PostAsync($"messages?dialogueId={dialogueId}&namespace={ns}", batch)).Expect(HttpStatusCode.OK).Array;

        Assert.Equal(batch.Select(b => b.content), created.Select(m => Str(m!["content"])));
        var listed = await WalkAsync($"messages?dialogueId={dialogueId}&namespace={ns}&limit=100");
        Assert.Equal(Ids(created), Ids(listed));
        Assert.Equal(100, Num((await GetDialogueAsync(ns, dialogueId))["totalMessages"]));
    }

    [Theory]
    [InlineData("messages?dialogueId={0}&namespace={1}")]
    [InlineData("dialogue/{0}/messages?namespace={1}")]
    public async Task PostMessages_OverHundredItems_RejectedAndNothingStored(string route)
    {
        var (ns, dialogueId) = await NewDialogueAsync();
        var batch = Enumerable.Range(0, 101).Select(i => new { role = "user", content = $"n{i}" }).ToList();

        (await PostAsync(string.Format(CultureInfo.InvariantCulture, route, dialogueId, ns), batch))
            .ExpectBadRequest(null, "INVALID_PARAMETER", "VALIDATION_ERROR");

        Assert.Empty(await ListMessagesAsync(ns, dialogueId));
    }

    [Theory]
    [InlineData("messages?dialogueId={0}&namespace={1}")]
    [InlineData("dialogue/{0}/messages?namespace={1}")]
    public async Task PostMessages_OneInvalidItem_NothingStored(string route)
    {
        var (ns, dialogueId) = await NewDialogueAsync();

        var error = (await PostAsync(string.Format(CultureInfo.InvariantCulture, route, dialogueId, ns),
            """[{"role":"user","content":"fine"},{"role":"user"},{"role":"user","content":"also fine"}]"""))
            .ExpectBadRequest(null, "MISSING_PARAMETER", "VALIDATION_ERROR");

        Assert.Contains(error.DetailFields(), f => f.EndsWith("[1].content", StringComparison.Ordinal));
        Assert.Empty(await ListMessagesAsync(ns, dialogueId));
        Assert.Equal(0, Num((await GetDialogueAsync(ns, dialogueId))["totalMessages"]));
    }

    [Fact]
    public async Task PostMessages_OneExistingId_ConflictAndNothingStored()
    {
        var (ns, dialogueId) = await NewDialogueAsync();
        var existing = Unique("m");
        await AddMessageAsync(ns, dialogueId, new { id = existing, role = "user", content = "existing" });

        (await PostAsync($"messages?dialogueId={dialogueId}&namespace={ns}", new object[]
        {
            new { id = Unique("m"), role = "user", content = "new 1" },
            new { id = existing, role = "user", content = "clash" },
            new { id = Unique("m"), role = "user", content = "new 2" },
        })).ExpectError(HttpStatusCode.Conflict, "DUPLICATE_ID", "conflict");

        Assert.Equal([existing], Ids(await ListMessagesAsync(ns, dialogueId)));
    }

    [Fact]
    public async Task PostMessages_DuplicateIdWithinBatch_RejectedAndNothingStored()
    {
        var (ns, dialogueId) = await NewDialogueAsync();
        var id = Unique("m");

        var response = await PostAsync($"messages?dialogueId={dialogueId}&namespace={ns}", new object[]
        {
            new { id, role = "user", content = "a" },
            new { id, role = "user", content = "b" },
        });

        Assert.True(response.Status is HttpStatusCode.Conflict or HttpStatusCode.BadRequest, $"got {(int)response.Status}: {response.Body}");
        Assert.Empty(await ListMessagesAsync(ns, dialogueId));
    }
}

public sealed class MessageRoutesSqlite(SqliteApiFixture api) : MessageRoutes(api), IClassFixture<SqliteApiFixture>;

public sealed class MessageRoutesPostgres(PostgresApiFixture api) : MessageRoutes(api), IClassFixture<PostgresApiFixture>;
