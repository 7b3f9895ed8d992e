using System.Net;
using System.Text.Json.Nodes;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Conformance;

/// <summary>Contract §4: the dialogue routes, under both path prefixes.</summary>
public abstract class DialogueRoutes(ApiFixture api) : ConformanceTest(api)
{
    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task CreateDialogue_Minimal_ReturnsDefaults(string prefix)
    {
        var response = (await PostAsync(prefix + "dialogue", new JsonObject())).Expect(HttpStatusCode.OK);
        var dialogue = response.Object;

        AssertUlid(dialogue["id"]);
        Assert.Equal(Api.ProjectId, Str(dialogue["projectId"]));
        Assert.Equal(response.Headers["X-Request-Id"], Str(dialogue["requestId"]));
        Assert.Equal("active", Str(dialogue["status"]));
        Assert.Empty(dialogue["tags"]!.AsArray());
        Assert.Empty(dialogue["metadata"]!.AsObject());
        AssertTimestamp(dialogue["created"]);
        AssertTimestamp(dialogue["modified"]);
        Assert.Equal(0, Num(dialogue["totalMessages"]));
        Assert.Equal(0, Num(dialogue["threadCount"]));
        Assert.Empty(dialogue["state"]!.AsObject());
        Assert.False(dialogue.ContainsKey("namespace"), "the default namespace is omitted");
        Assert.False(dialogue.ContainsKey("threadOf"));
        Assert.False(dialogue.ContainsKey("label"));
        Assert.False(dialogue.ContainsKey("endedAt"));
        Assert.False(dialogue.ContainsKey("lastMessageCreated"));
        if (dialogue["messages"] is { } messages)
        {
            Assert.Empty(messages.AsArray());
        }
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task CreateDialogue_AllFields_RoundTripsThroughGet(string prefix)
    {
        var ns = NewNamespace();
        var id = Unique("dlg");
        var created = await CreateDialogueAsync(null, new
        {
            id,
            @namespace = ns,
            label = "Support chat",
            tags = (string[])["support", "vip"],
            metadata = new { channel = "web", priority = 3, urgent = true, langs = (string[])["en", "de"] },
            state = new { step = 2, cart = (string[])["a", "b"] },
            messages = new object[]
            {
                new { role = "user", content = "Hello" },
                new { role = "assistant", content = "Hi! How can I help?" },
            },
        }, prefix);

        Assert.Equal(id, Str(created["id"]));
        Assert.Equal(ns, Str(created["namespace"]));
        Assert.Equal("Support chat", Str(created["label"]));
        Assert.Equal(Compact("""["support","vip"]"""), Compact(created["tags"]));
        Assert.Equal(Compact("""{"channel":"web","priority":3,"urgent":true,"langs":["en","de"]}"""), Compact(created["metadata"]));
        Assert.Equal(Compact("""{"step":2,"cart":["a","b"]}"""), Compact(created["state"]));
        Assert.Equal(2, Num(created["totalMessages"]));
        AssertTimestamp(created["lastMessageCreated"]);

        var messages = created["messages"]!.AsArray();
        Assert.Equal(["user", "assistant"], messages.Select(m => Str(m!["role"])));
        Assert.Equal(["Hello", "Hi! How can I help?"], messages.Select(m => Str(m!["content"])));
        Assert.All(messages, m => Assert.Equal(id, Str(m!["dialogueId"])));
        Assert.All(messages, m => AssertUlid(m!["id"]));

        var fetched = await GetDialogueAsync(ns, id, prefix);
        foreach (var field in (string[])["id", "projectId", "status", "tags", "metadata", "created", "namespace", "label", "totalMessages", "threadCount", "state", "lastMessageCreated"])
        {
            Assert.Equal(Compact(created[field]), Compact(fetched[field]));
        }
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task CreateDialogue_SingleMessage_CreatesThatMessage(string prefix)
    {
        var ns = NewNamespace();
        var dialogue = await CreateDialogueAsync(ns, new { message = new { role = "user", content = "just one", name = "alice" } }, prefix);

        Assert.Equal(1, Num(dialogue["totalMessages"]));
        var message = Assert.Single(dialogue["messages"]!.AsArray())!;
        Assert.Equal("just one", Str(message["content"]));
        Assert.Equal("alice", Str(message["name"]));

        var listed = (await GetAsync($"{prefix}messages?dialogueId={Str(dialogue["id"])}&namespace={ns}")).Expect(HttpStatusCode.OK).Object;
        Assert.Equal([Str(message["id"])], Ids(listed["items"]!.AsArray()));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task CreateDialogue_SuppliedCreated_IsKept(string prefix)
    {
        var ns = NewNamespace();
        var dialogue = await CreateDialogueAsync(ns, new { created = "2024-03-05T10:11:12.345Z" }, prefix);

        Assert.Equal("2024-03-05T10:11:12.345Z", Str(dialogue["created"]));
        Assert.Equal("2024-03-05T10:11:12.345Z", Str((await GetDialogueAsync(ns, Str(dialogue["id"]), prefix))["created"]));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task CreateDialogue_DuplicateIdInNamespace_Conflict(string prefix)
    {
        var ns = NewNamespace();
        var id = Unique("dup");
        await CreateDialogueAsync(ns, new { id, label = "first" }, prefix);

        (await PostAsync($"{prefix}dialogue?namespace={ns}", new { id, label = "second" }))
            .ExpectError(HttpStatusCode.Conflict, "DUPLICATE_ID", "conflict");
        Assert.Equal("first", Str((await GetDialogueAsync(ns, id, prefix))["label"]));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task GetDialogue_Unknown_NotFound(string prefix)
    {
        (await GetAsync($"{prefix}dialogue/{Unique("missing")}?namespace={NewNamespace()}"))
            .ExpectError(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND", "not_found");
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task ListDialogues_Namespace_ReturnsOnlyItsDialoguesWithoutMessages(string prefix)
    {
        var ns = NewNamespace();
        var a = await CreateDialogueAsync(ns, new { message = new { role = "user", content = "x" } }, prefix);
        var b = await CreateDialogueAsync(ns, null, prefix);
        await CreateDialogueAsync(NewNamespace(), null, prefix);

        var list = (await GetAsync($"{prefix}dialogue?namespace={ns}")).Expect(HttpStatusCode.OK).Object;
        var items = list["items"]!.AsArray();

        Assert.Equal(new[] { Str(a["id"]), Str(b["id"]) }.Order(), Ids(items).Order());
        Assert.All(items, i => Assert.False(i!.AsObject().ContainsKey("messages"), "list items carry no messages"));
        Assert.All(items, i => Assert.Equal(ns, Str(i!["namespace"])));
        Assert.Null(list["next"]);
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task UpdateDialogue_LabelTagsState_ReplacesThem(string prefix)
    {
        var ns = NewNamespace();
        var id = Str((await CreateDialogueAsync(ns, new { label = "old", tags = (string[])["a", "b"], state = new { keep = 1, drop = 2 } }, prefix))["id"]);

        var updated = (await PutAsync($"{prefix}dialogue/{id}?namespace={ns}", new { label = "new", tags = (string[])["c"], state = new { fresh = true } }))
            .Expect(HttpStatusCode.OK).Object;

        Assert.Equal("new", Str(updated["label"]));
        Assert.Equal(Compact("""["c"]"""), Compact(updated["tags"]));
        var fetched = await GetDialogueAsync(ns, id, prefix);
        Assert.Equal("new", Str(fetched["label"]));
        Assert.Equal(Compact("""["c"]"""), Compact(fetched["tags"]));
        Assert.Equal(Compact("""{"fresh":true}"""), Compact(fetched["state"]));
        Assert.True(Time(fetched["modified"]) >= Time(fetched["created"]));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task UpdateDialogue_BodyIdEqualsPathAndNamespaceInBody_Accepted(string prefix)
    {
        var ns = NewNamespace();
        var id = Str((await CreateDialogueAsync(ns, null, prefix))["id"]);

        (await PutAsync($"{prefix}dialogue/{id}", new { id, @namespace = ns, label = "old sdk" })).Expect(HttpStatusCode.OK);

        Assert.Equal("old sdk", Str((await GetDialogueAsync(ns, id, prefix))["label"]));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task UpdateDialogue_DifferentBodyId_BadRequest(string prefix)
    {
        var ns = NewNamespace();
        var id = Str((await CreateDialogueAsync(ns, new { label = "kept" }, prefix))["id"]);

        (await PutAsync($"{prefix}dialogue/{id}?namespace={ns}", new { id = "another-id", label = "changed" }))
            .ExpectBadRequest("id", "INVALID_PARAMETER");
        Assert.Equal("kept", Str((await GetDialogueAsync(ns, id, prefix))["label"]));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task UpdateDialogue_Metadata_ImmutableConflict(string prefix)
    {
        var ns = NewNamespace();
        var id = Str((await CreateDialogueAsync(ns, new { metadata = new { source = "a" } }, prefix))["id"]);

        (await PutAsync($"{prefix}dialogue/{id}?namespace={ns}", new { metadata = new { source = "b" } }))
            .ExpectError(HttpStatusCode.Conflict, "IMMUTABLE_FIELD", "conflict");
        Assert.Equal("a", Str((await GetDialogueAsync(ns, id, prefix))["metadata"]!["source"]));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task UpdateDialogue_Unknown_NotFound(string prefix)
    {
        (await PutAsync($"{prefix}dialogue/{Unique("nope")}?namespace={NewNamespace()}", new { label = "x" }))
            .ExpectError(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND", "not_found");
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task MergeState_AddOverwriteNull_ReturnsMergedStateItself(string prefix)
    {
        var ns = NewNamespace();
        var id = Str((await CreateDialogueAsync(ns, new { state = new { a = 1, b = "two", c = true } }, prefix))["id"]);

        var merged = (await PutAsync($"{prefix}dialogue/{id}/state?namespace={ns}", """{"b":"TWO","c":null,"d":[1,2]}"""))
            .Expect(HttpStatusCode.OK).Object;

        Assert.Equal(4 - 1, merged.Count);
        Assert.Equal(1, Num(merged["a"]));
        Assert.Equal("TWO", Str(merged["b"]));
        Assert.False(merged.ContainsKey("c"), "a null value removes the key");
        Assert.Equal("[1,2]", Compact(merged["d"]));
        Assert.False(merged.ContainsKey("state"), "the answer is the state itself, not wrapped");
        Assert.Equal(Compact(merged), Compact((await GetDialogueAsync(ns, id, prefix))["state"]));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task MergeState_EndedDialogue_Allowed(string prefix)
    {
        var ns = NewNamespace();
        var id = Str((await CreateDialogueAsync(ns, null, prefix))["id"]);
        (await PostAsync($"{prefix}dialogue/{id}/end?namespace={ns}", new JsonObject())).Expect(HttpStatusCode.OK);

        var state = (await PutAsync($"{prefix}dialogue/{id}/state?namespace={ns}", new { outcome = "resolved" })).Expect(HttpStatusCode.OK).Object;

        Assert.Equal("resolved", Str(state["outcome"]));
        var fetched = await GetDialogueAsync(ns, id, prefix);
        Assert.Equal("resolved", Str(fetched["state"]!["outcome"]));
        Assert.Equal("ended", Str(fetched["status"]));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task MergeState_UnknownDialogue_NotFound(string prefix)
    {
        (await PutAsync($"{prefix}dialogue/{Unique("nope")}/state?namespace={NewNamespace()}", new { a = 1 }))
            .ExpectError(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND", "not_found");
    }

    [Theory]
    [InlineData("api/v1/", "POST", "{}")]
    [InlineData("", "POST", "{}")]
    [InlineData("api/v1/", "PUT", "{}")]
    [InlineData("", "PUT", "{}")]
    [InlineData("api/v1/", "POST", null)]
    [InlineData("", "PUT", null)]
    public async Task EndDialogue_PostOrPut_SetsEndedStatus(string prefix, string method, string? body)
    {
        var ns = NewNamespace();
        var id = Str((await CreateDialogueAsync(ns, new { label = "to end" }, prefix))["id"]);

        var response = (await SendAsync(new HttpMethod(method), $"{prefix}dialogue/{id}/end?namespace={ns}", body)).Expect(HttpStatusCode.OK);
        var ended = response.Object;

        Assert.Equal(id, Str(ended["id"]));
        Assert.Equal("ended", Str(ended["status"]));
        AssertTimestamp(ended["endedAt"]);
        Assert.Equal("to end", Str(ended["label"]));
        Assert.Equal(response.Headers["X-Request-Id"], Str(ended["requestId"]));
        var fetched = await GetDialogueAsync(ns, id, prefix);
        Assert.Equal("ended", Str(fetched["status"]));
        Assert.Equal(Str(ended["endedAt"]), Str(fetched["endedAt"]));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task EndDialogue_Twice_IsNoOp(string prefix)
    {
        var ns = NewNamespace();
        var id = Str((await CreateDialogueAsync(ns, null, prefix))["id"]);
        var first = (await PostAsync($"{prefix}dialogue/{id}/end?namespace={ns}", new JsonObject())).Expect(HttpStatusCode.OK).Object;

        var second = (await PutAsync($"{prefix}dialogue/{id}/end?namespace={ns}", new JsonObject())).Expect(HttpStatusCode.OK).Object;

        Assert.Equal("ended", Str(second["status"]));
        Assert.Equal(Str(first["endedAt"]), Str(second["endedAt"]));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task EndDialogue_Unknown_NotFound(string prefix)
    {
        (await PostAsync($"{prefix}dialogue/{Unique("nope")}/end?namespace={NewNamespace()}", new JsonObject()))
            .ExpectError(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND", "not_found");
    }

    [Theory]
    [InlineData("api/v1/", "message?dialogueId={0}&namespace={1}", false)]
    [InlineData("", "message?dialogueId={0}&namespace={1}", false)]
    [InlineData("api/v1/", "messages?dialogueId={0}&namespace={1}", true)]
    [InlineData("", "messages?dialogueId={0}&namespace={1}", false)]
    [InlineData("api/v1/", "dialogue/{0}/messages?namespace={1}", true)]
    [InlineData("", "dialogue/{0}/messages?namespace={1}", false)]
    public async Task EndedDialogue_AddMessage_ConflictAndNothingStored(string prefix, string route, bool batch)
    {
        var ns = NewNamespace();
        var id = Str((await CreateDialogueAsync(ns, new { message = new { role = "user", content = "before" } }, prefix))["id"]);
        (await PostAsync($"{prefix}dialogue/{id}/end?namespace={ns}", new JsonObject())).Expect(HttpStatusCode.OK);

        var message = new { role = "user", content = "after" };
        var path = prefix + string.Format(System.Globalization.CultureInfo.InvariantCulture, route, id, ns);
        (await PostAsync(path, batch ? new object[] { message } : message))
            .ExpectError(HttpStatusCode.Conflict, "DIALOGUE_ENDED", "conflict");

        Assert.Equal(1, Num((await GetDialogueAsync(ns, id, prefix))["totalMessages"]));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task DeleteDialogue_WithMessagesAndNestedThreads_RemovesEverything(string prefix)
    {
        var ns = NewNamespace();
        var parent = await CreateDialogueAsync(ns, new { messages = new object[] { new { role = "user", content = "m1" }, new { role = "assistant", content = "m2" } } }, prefix);
        var parentId = Str(parent["id"]);
        var messageId = Str(parent["messages"]![0]!["id"]);
        var thread = await CreateDialogueAsync(ns, new { threadOf = parentId, message = new { role = "user", content = "in thread" } }, prefix);
        var threadId = Str(thread["id"]);
        var threadMessageId = Str(thread["messages"]![0]!["id"]);
        var subThreadId = Str((await CreateDialogueAsync(ns, new { threadOf = threadId }, prefix))["id"]);

        var deleted = (await DeleteAsync($"{prefix}dialogue/{parentId}?namespace={ns}")).Expect(HttpStatusCode.OK).Object;

        Assert.Equal(parentId, Str(deleted["id"]));
        Assert.True(deleted["deleted"]!.GetValue<bool>());
        foreach (var id in new[] { parentId, threadId, subThreadId })
        {
            (await GetAsync($"{prefix}dialogue/{id}?namespace={ns}")).ExpectError(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND", "not_found");
        }

        foreach (var (dialogueId, id) in new[] { (parentId, messageId), (threadId, threadMessageId) })
        {
            var message = await GetAsync($"{prefix}message/{id}?dialogueId={dialogueId}&namespace={ns}");
            Assert.Equal(HttpStatusCode.NotFound, message.Status);
            Assert.Equal("not_found", message.ErrorType);
        }

        var list = await GetAsync($"{prefix}dialogue?namespace={ns}");
        Assert.Empty(list.Expect(HttpStatusCode.OK).Object["items"]!.AsArray());
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task DeleteDialogue_Twice_SecondIsNotFound(string prefix)
    {
        var ns = NewNamespace();
        var id = Str((await CreateDialogueAsync(ns, null, prefix))["id"]);
        (await DeleteAsync($"{prefix}dialogue/{id}?namespace={ns}")).Expect(HttpStatusCode.OK);

        (await DeleteAsync($"{prefix}dialogue/{id}?namespace={ns}")).ExpectError(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND", "not_found");
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task CreateThread_Parent_IncrementsThreadCountAndListsByThreadOf(string prefix)
    {
        var ns = NewNamespace();
        var parentId = Str((await CreateDialogueAsync(ns, null, prefix))["id"]);
        var other = Str((await CreateDialogueAsync(ns, null, prefix))["id"]);

        var t1 = await CreateDialogueAsync(ns, new { threadOf = parentId, label = "t1" }, prefix);
        var t2 = await CreateDialogueAsync(ns, new { threadOf = parentId, label = "t2" }, prefix);
        await CreateDialogueAsync(ns, new { threadOf = other }, prefix);

        Assert.Equal(parentId, Str(t1["threadOf"]));
        Assert.Equal(2, Num((await GetDialogueAsync(ns, parentId, prefix))["threadCount"]));
        Assert.Equal(1, Num((await GetDialogueAsync(ns, other, prefix))["threadCount"]));
        var threads = (await GetAsync($"{prefix}dialogue?namespace={ns}&threadOf={parentId}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray();
        Assert.Equal(new[] { Str(t1["id"]), Str(t2["id"]) }.Order(), Ids(threads).Order());
        Assert.All(threads, t => Assert.Equal(parentId, Str(t!["threadOf"])));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task DeleteThread_Parent_DecrementsThreadCount(string prefix)
    {
        var ns = NewNamespace();
        var parentId = Str((await CreateDialogueAsync(ns, null, prefix))["id"]);
        var t1 = Str((await CreateDialogueAsync(ns, new { threadOf = parentId }, prefix))["id"]);
        var t2 = Str((await CreateDialogueAsync(ns, new { threadOf = parentId }, prefix))["id"]);

        (await DeleteAsync($"{prefix}dialogue/{t1}?namespace={ns}")).Expect(HttpStatusCode.OK);

        Assert.Equal(1, Num((await GetDialogueAsync(ns, parentId, prefix))["threadCount"]));
        var threads = (await GetAsync($"{prefix}dialogue?namespace={ns}&threadOf={parentId}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray();
        Assert.Equal([t2], Ids(threads));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task CreateThread_MissingParent_NotFound(string prefix)
    {
        var ns = NewNamespace();
        (await PostAsync($"{prefix}dialogue?namespace={ns}", new { threadOf = Unique("ghost") }))
            .ExpectError(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND", "not_found");

        Assert.Empty((await GetAsync($"{prefix}dialogue?namespace={ns}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray());
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task Messages_CreateAndDelete_MaintainDialogueCounters(string prefix)
    {
        var ns = NewNamespace();
        var dialogue = await CreateDialogueAsync(ns, null, prefix);
        var id = Str(dialogue["id"]);

        var messages = await AddMessagesAsync(ns, id, new { role = "user", content = "one" }, new { role = "assistant", content = "two" });
        var afterCreate = await GetDialogueAsync(ns, id, prefix);

        Assert.Equal(2, Num(afterCreate["totalMessages"]));
        Assert.Equal(Str(messages[1]!["created"]), Str(afterCreate["lastMessageCreated"]));
        Assert.True(Time(afterCreate["modified"]) >= Time(dialogue["modified"]));
        Assert.True(Time(afterCreate["modified"]) >= Time(messages[1]!["created"]));

        (await DeleteAsync($"{prefix}message/{Str(messages[0]!["id"])}?dialogueId={id}&namespace={ns}")).Expect(HttpStatusCode.OK);

        Assert.Equal(1, Num((await GetDialogueAsync(ns, id, prefix))["totalMessages"]));
    }

    [Fact]
    public async Task DeleteDialogue_SameIdsRecreated_NoLeftovers()
    {
        var ns = NewNamespace();
        var id = Unique("reuse");
        var messageId = Unique("m");
        var threadId = Unique("t");
        await CreateDialogueAsync(ns, new { id, state = new { old = true }, tags = (string[])["old"], message = new { id = messageId, role = "user", content = "old" } });
        await CreateDialogueAsync(ns, new { id = threadId, threadOf = id });
        (await DeleteAsync($"dialogue/{id}?namespace={ns}")).Expect(HttpStatusCode.OK);

        var again = await CreateDialogueAsync(ns, new { id, message = new { id = messageId, role = "user", content = "new" } });
        var thread = await CreateDialogueAsync(ns, new { id = threadId });

        Assert.Equal(1, Num(again["totalMessages"]));
        Assert.Equal(0, Num(again["threadCount"]));
        Assert.Empty(again["state"]!.AsObject());
        Assert.Empty(again["tags"]!.AsArray());
        Assert.False(thread.ContainsKey("threadOf"));
        var messages = (await GetAsync($"messages?dialogueId={id}&namespace={ns}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray();
        Assert.Equal("new", Str(Assert.Single(messages)!["content"]));
    }

    [Fact]
    public async Task CreateDialogue_DuplicateMessageIds_RejectedAndNothingStored()
    {
        var ns = NewNamespace();
        var messageId = Unique("m");

        var response = await PostAsync($"dialogue?namespace={ns}", new
        {
            messages = new object[] { new { id = messageId, role = "user", content = "a" }, new { id = messageId, role = "user", content = "b" } },
        });

        Assert.True(response.Status is HttpStatusCode.Conflict or HttpStatusCode.BadRequest, $"got {(int)response.Status}: {response.Body}");
        response.ExpectError(response.Status, (string)response.Object["error"]!["code"]!, response.Status == HttpStatusCode.Conflict ? "conflict" : "validation_error");
        Assert.Empty((await GetAsync($"dialogue?namespace={ns}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray());
    }

    [Fact]
    public async Task Modified_MessageAndStateWrites_AdvanceIt()
    {
        var ns = NewNamespace();
        var dialogue = await CreateDialogueAsync(ns);
        var id = Str(dialogue["id"]);

        await Task.Delay(20, Ct);
        await AddMessageAsync(ns, id, new { role = "user", content = "later" });
        var afterMessage = await GetDialogueAsync(ns, id);
        await Task.Delay(20, Ct);
        (await PutAsync($"dialogue/{id}/state?namespace={ns}", new { step = 1 })).Expect(HttpStatusCode.OK);
        var afterState = await GetDialogueAsync(ns, id);

        Assert.True(Time(afterMessage["modified"]) > Time(dialogue["modified"]), "a message write advances modified");
        Assert.True(Time(afterState["modified"]) > Time(afterMessage["modified"]), "a state write advances modified");
        Assert.Equal(Str(dialogue["created"]), Str(afterState["created"]));
    }

    [Fact]
    public async Task UpdateDialogue_Answer_IsFullDialogueWithRequestId()
    {
        var ns = NewNamespace();
        var created = await CreateDialogueAsync(ns, new { label = "a", metadata = new { k = "v" }, state = new { s = 1 } });
        var id = Str(created["id"]);

        var response = (await PutAsync($"dialogue/{id}?namespace={ns}", new { label = "b" })).Expect(HttpStatusCode.OK);
        var updated = response.Object;

        Assert.Equal(response.Headers["X-Request-Id"], Str(updated["requestId"]));
        Assert.Equal(id, Str(updated["id"]));
        Assert.Equal(ns, Str(updated["namespace"]));
        Assert.Equal("b", Str(updated["label"]));
        Assert.Equal("""{"k":"v"}""", Compact(updated["metadata"]));
        Assert.Equal(Str(created["created"]), Str(updated["created"]));
        Assert.Equal("active", Str(updated["status"]));
        Assert.Equal(0, Num(updated["totalMessages"]));
    }

    [Fact]
    public async Task CreateDialogue_WithMessages_LastMessageCreatedIsNewestMessage()
    {
        var ns = NewNamespace();

        var dialogue = await CreateDialogueAsync(ns, new
        {
            messages = new object[]
            {
                new { role = "user", content = "a", created = "2024-01-01T00:00:00.000Z" },
                new { role = "assistant", content = "b", created = "2024-01-01T00:00:05.000Z" },
            },
        });

        Assert.Equal("2024-01-01T00:00:05.000Z", Str(dialogue["lastMessageCreated"]));
        Assert.Equal(["2024-01-01T00:00:00.000Z", "2024-01-01T00:00:05.000Z"], dialogue["messages"]!.AsArray().Select(m => Str(m!["created"])));
    }

    [Fact]
    public async Task Dialogue_OnlyMessageDeleted_NoMessagesLeft()
    {
        var ns = NewNamespace();
        var dialogue = await CreateDialogueAsync(ns, new { message = new { role = "user", content = "only" } });
        var id = Str(dialogue["id"]);

        (await DeleteAsync($"dialogue/{id}/message/{Str(dialogue["messages"]![0]!["id"])}?namespace={ns}")).Expect(HttpStatusCode.OK);

        var after = await GetDialogueAsync(ns, id);
        Assert.Equal(0, Num(after["totalMessages"]));
        Assert.Empty((await GetAsync($"messages?dialogueId={id}&namespace={ns}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray());
    }
}

public sealed class DialogueRoutesSqlite(SqliteApiFixture api) : DialogueRoutes(api), IClassFixture<SqliteApiFixture>;

public sealed class DialogueRoutesPostgres(PostgresApiFixture api) : DialogueRoutes(api), IClassFixture<PostgresApiFixture>;
