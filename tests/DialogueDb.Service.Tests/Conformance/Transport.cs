using System.Net;
using System.Security.Authentication;
using System.Text;
using System.Text.Json.Nodes;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Conformance;

/// <summary>
/// Contract §1 and §3: TLS, auth, request ids, the error envelope on every error class, routing (404/405), body
/// limits, the SDK's content-type and DELETE-body quirks, malformed input, unicode and ids with colons.
/// </summary>
public abstract class Transport(ApiFixture api) : ConformanceTest(api)
{
    /// <summary>~37 MiB of valid JSON, built once: over the default 36 MiB body limit.</summary>
    private static readonly Lazy<byte[]> HugeBody = new(() =>
    {
        var filler = new string('x', 37 * 1024 * 1024);
        return Encoding.UTF8.GetBytes($$$"""{"label":"huge","state":{"blob":"{{{filler}}}"}}""");
    });

    private async Task<ApiResponse> SendWithAuthorizationAsync(HttpMethod method, string path, string? authorization, string? json = null)
    {
        using var client = Api.CreateClient();
        if (authorization is not null)
        {
            client.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", authorization);
        }

        return await SendAsync(method, path, json, client: client);
    }

    [Theory]
    [InlineData("api/v1/", null)]
    [InlineData("", null)]
    [InlineData("api/v1/", "Bearer ")]
    [InlineData("api/v1/", "Bearer not-a-real-key")]
    [InlineData("", "Bearer ddb_0000000000000000000000000000000000000000")]
    [InlineData("api/v1/", "Basic dXNlcjpwYXNz")]
    [InlineData("", "{key}")]
    [InlineData("api/v1/", "Bearer {key}x")]
    [InlineData("", "Bearer {key} extra")]
    public async Task Auth_MissingOrInvalidKey_Unauthorized(string prefix, string? authorization)
    {
        var ns = NewNamespace();
        authorization = authorization?.Replace("{key}", Api.ApiKey, StringComparison.Ordinal);

        (await SendWithAuthorizationAsync(HttpMethod.Get, $"{prefix}dialogue?namespace={ns}", authorization))
            .ExpectError(HttpStatusCode.Unauthorized, "UNAUTHORIZED", "authentication_error");
        (await SendWithAuthorizationAsync(HttpMethod.Post, $"{prefix}dialogue?namespace={ns}", authorization, """{"label":"sneaky"}"""))
            .ExpectError(HttpStatusCode.Unauthorized, "UNAUTHORIZED", "authentication_error");
        (await SendWithAuthorizationAsync(HttpMethod.Post, $"{prefix}memory?namespace={ns}", authorization, """{"value":1}"""))
            .ExpectError(HttpStatusCode.Unauthorized, "UNAUTHORIZED", "authentication_error");

        Assert.Empty((await GetAsync($"dialogue?namespace={ns}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray());
        Assert.Empty((await GetAsync($"memory?namespace={ns}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray());
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task Auth_ReadOnlyKey_CanRead(string prefix)
    {
        var ns = NewNamespace();
        var dialogue = await CreateDialogueAsync(ns, new { label = "readable", message = new { role = "user", content = "hi" } });
        var dialogueId = Str(dialogue["id"]);
        var messageId = Str(dialogue["messages"]![0]!["id"]);
        var memoryId = Str((await CreateMemoryAsync(ns, new { value = "m" }))["id"]);
        using var reader = Api.CreateClient(Api.ReadOnlyApiKey);

        Assert.Equal("readable", Str((await GetAsync($"{prefix}dialogue/{dialogueId}?namespace={ns}", reader)).Expect(HttpStatusCode.OK).Object["label"]));
        Assert.Equal([dialogueId], Ids((await GetAsync($"{prefix}dialogue?namespace={ns}", reader)).Expect(HttpStatusCode.OK).Object["items"]!.AsArray()));
        Assert.Equal([messageId], Ids((await GetAsync($"{prefix}messages?dialogueId={dialogueId}&namespace={ns}", reader)).Expect(HttpStatusCode.OK).Object["items"]!.AsArray()));
        (await GetAsync($"{prefix}message/{messageId}?dialogueId={dialogueId}&namespace={ns}", reader)).Expect(HttpStatusCode.OK);
        Assert.Equal("m", Str((await GetAsync($"{prefix}memory/{memoryId}?namespace={ns}", reader)).Expect(HttpStatusCode.OK).Object["value"]));
        Assert.Equal([memoryId], Ids((await GetAsync($"{prefix}memory?namespace={ns}", reader)).Expect(HttpStatusCode.OK).Object["items"]!.AsArray()));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task Auth_ReadOnlyKey_EveryWriteForbiddenAndNothingChanges(string prefix)
    {
        var ns = NewNamespace();
        var dialogue = await CreateDialogueAsync(ns, new { label = "orig", message = new { role = "user", content = "hi" } });
        var d = Str(dialogue["id"]);
        var m = Str(dialogue["messages"]![0]!["id"]);
        var mem = Str((await CreateMemoryAsync(ns, new { value = "m", label = "orig" }))["id"]);
        using var reader = Api.CreateClient(Api.ReadOnlyApiKey);

        var writes = new (HttpMethod Method, string Path, string? Body)[]
        {
            (HttpMethod.Post, $"dialogue?namespace={ns}", "{}"),
            (HttpMethod.Put, $"dialogue/{d}?namespace={ns}", """{"label":"changed"}"""),
            (HttpMethod.Put, $"dialogue/{d}/state?namespace={ns}", """{"x":1}"""),
            (HttpMethod.Post, $"dialogue/{d}/end?namespace={ns}", "{}"),
            (HttpMethod.Put, $"dialogue/{d}/end?namespace={ns}", "{}"),
            (HttpMethod.Post, $"message?dialogueId={d}&namespace={ns}", """{"role":"user","content":"x"}"""),
            (HttpMethod.Post, $"messages?dialogueId={d}&namespace={ns}", """[{"role":"user","content":"x"}]"""),
            (HttpMethod.Post, $"dialogue/{d}/messages?namespace={ns}", """{"role":"user","content":"x"}"""),
            (HttpMethod.Put, $"message/{m}?dialogueId={d}&namespace={ns}", """{"tags":["x"]}"""),
            (HttpMethod.Delete, $"messages/{m}?dialogueId={d}&namespace={ns}", null),
            (HttpMethod.Delete, $"dialogue/{d}/message/{m}?namespace={ns}", null),
            (HttpMethod.Post, $"memory?namespace={ns}", """{"value":1}"""),
            (HttpMethod.Put, $"memory/{mem}?namespace={ns}", """{"label":"changed"}"""),
            (HttpMethod.Delete, $"memory/{mem}?namespace={ns}", null),
            (HttpMethod.Delete, $"dialogue/{d}?namespace={ns}", null),
        };
        foreach (var (method, path, body) in writes)
        {
            (await SendAsync(method, prefix + path, body, client: reader)).ExpectError(HttpStatusCode.Forbidden, "FORBIDDEN", "authorization_error");
        }

        var after = await GetDialogueAsync(ns, d);
        Assert.Equal("orig", Str(after["label"]));
        Assert.Equal("active", Str(after["status"]));
        Assert.Equal(1, Num(after["totalMessages"]));
        Assert.Empty(after["state"]!.AsObject());
        Assert.Equal([d], Ids((await GetAsync($"dialogue?namespace={ns}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray()));
        Assert.Empty((await GetAsync($"message/{m}?dialogueId={d}&namespace={ns}")).Expect(HttpStatusCode.OK).Object["tags"]!.AsArray());
        Assert.Equal([mem], Ids((await GetAsync($"memory?namespace={ns}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray()));
        Assert.Equal("orig", Str((await GetAsync($"memory/{mem}?namespace={ns}")).Expect(HttpStatusCode.OK).Object["label"]));
    }

    [Fact]
    public async Task ProjectId_InBody_NeverSelectsAnotherProject()
    {
        var ns = NewNamespace();

        var response = await PostAsync($"dialogue?namespace={ns}", new { projectId = "someone-else", label = "mine" });

        if (response.Status == HttpStatusCode.OK)
        {
            Assert.Equal(Api.ProjectId, Str(response.Object["projectId"]));
            Assert.Equal(Api.ProjectId, Str((await GetDialogueAsync(ns, Str(response.Object["id"])))["projectId"]));
        }
        else
        {
            response.ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error");
            Assert.Empty((await GetAsync($"dialogue?namespace={ns}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray());
        }

        (await GetAsync($"dialogue?namespace={ns}&projectId=someone-else")).ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error");
    }

    [Fact]
    public async Task RequestId_EveryResponse_UniqueUuidEchoedInPayloads()
    {
        var ns = NewNamespace();
        var created = (await PostAsync($"dialogue?namespace={ns}", new JsonObject())).Expect(HttpStatusCode.OK);
        var id = Str(created.Object["id"]);
        var fetched = (await GetAsync($"dialogue/{id}?namespace={ns}")).Expect(HttpStatusCode.OK);
        var list = (await GetAsync($"dialogue?namespace={ns}")).Expect(HttpStatusCode.OK);
        var missing = await GetAsync($"dialogue/{Unique("nope")}?namespace={ns}");
        var noRoute = await GetAsync("api/v1/no-such-route");

        var responses = new[] { created, fetched, list, missing, noRoute };
        var ids = responses.Select(r => Assert.Contains("X-Request-Id", r.Headers)).ToList();
        Assert.All(ids, v => Assert.True(Guid.TryParse(v, out _), $"not a UUID: {v}"));
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Equal(created.Headers["X-Request-Id"], Str(created.Object["requestId"]));
        Assert.Equal(fetched.Headers["X-Request-Id"], Str(fetched.Object["requestId"]));
        missing.ExpectError(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND", "not_found");
        noRoute.ExpectError(HttpStatusCode.NotFound, "NOT_FOUND", "not_found");
    }

    [Theory]
    [InlineData("GET", "api/v1/no-such-route")]
    [InlineData("GET", "no-such-route")]
    [InlineData("POST", "api/v1/dialogues-typo")]
    [InlineData("GET", "api/v2/dialogue")]
    [InlineData("GET", "api/v1/dialogue/a/b/c/d")]
    [InlineData("DELETE", "memory/a/b")]
    public async Task UnknownRoute_NotFoundEnvelope(string method, string path)
    {
        (await SendAsync(new HttpMethod(method), path, method == "GET" ? null : "{}"))
            .ExpectError(HttpStatusCode.NotFound, "NOT_FOUND", "not_found");
    }

    [Theory]
    [InlineData("PATCH", "api/v1/dialogue/{0}")]
    [InlineData("PATCH", "dialogue/{0}")]
    [InlineData("DELETE", "api/v1/dialogue/{0}/state")]
    [InlineData("PATCH", "dialogue")]
    [InlineData("POST", "api/v1/dialogue/{0}/state")]
    [InlineData("GET", "dialogue/{0}/end")]
    [InlineData("DELETE", "api/v1/dialogue/{0}/end")]
    [InlineData("POST", "memory/{0}")]
    [InlineData("PATCH", "api/v1/memory")]
    [InlineData("PATCH", "messages")]
    [InlineData("PATCH", "api/v1/message")]
    [InlineData("PATCH", "message/{0}")]
    public async Task KnownRoute_WrongMethod_MethodNotAllowed(string method, string route)
    {
        var ns = NewNamespace();
        var id = Str((await CreateDialogueAsync(ns, new { label = "untouched" }))["id"]);

        (await SendAsync(new HttpMethod(method), string.Format(System.Globalization.CultureInfo.InvariantCulture, route, id) + $"?namespace={ns}", "{}"))
            .ExpectError(HttpStatusCode.MethodNotAllowed, "METHOD_NOT_ALLOWED", "validation_error");

        var after = await GetDialogueAsync(ns, id);
        Assert.Equal("untouched", Str(after["label"]));
        Assert.Equal("active", Str(after["status"]));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task Body_OverThirtySixMiB_PayloadTooLarge(string prefix)
    {
        var ns = NewNamespace();

        (await SendBytesAsync(HttpMethod.Post, $"{prefix}dialogue?namespace={ns}", HugeBody.Value))
            .ExpectError(HttpStatusCode.RequestEntityTooLarge, "PAYLOAD_TOO_LARGE", "validation_error");

        Assert.Empty((await GetAsync($"dialogue?namespace={ns}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray());
    }

    public static TheoryData<string, string> MalformedJsonRoutes => new()
    {
        { "POST", "dialogue?namespace={ns}" },
        { "PUT", "dialogue/{d}?namespace={ns}" },
        { "PUT", "dialogue/{d}/state?namespace={ns}" },
        { "POST", "message?dialogueId={d}&namespace={ns}" },
        { "POST", "messages?dialogueId={d}&namespace={ns}" },
        { "POST", "dialogue/{d}/messages?namespace={ns}" },
        { "POST", "memory?namespace={ns}" },
        { "PUT", "memory/{mem}?namespace={ns}" },
    };

    [Theory]
    [MemberData(nameof(MalformedJsonRoutes))]
    public async Task Body_InvalidJson_InvalidParameter(string method, string route)
    {
        var ns = NewNamespace();
        var d = Str((await CreateDialogueAsync(ns, new { label = "orig" }))["id"]);
        var mem = Str((await CreateMemoryAsync(ns, new { value = 1, label = "orig" }))["id"]);
        var path = route.Replace("{ns}", ns, StringComparison.Ordinal).Replace("{d}", d, StringComparison.Ordinal).Replace("{mem}", mem, StringComparison.Ordinal);

        foreach (var body in (string[])["{\"label\":", "not json at all", "{'label':'single quotes'}", "{\"label\":\"x\",}", "{\"a\":1}{\"b\":2}", "\uFEFF{\"label\":"])
        {
            (await SendAsync(new HttpMethod(method), path, body)).ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error");
        }

        Assert.Equal("orig", Str((await GetDialogueAsync(ns, d))["label"]));
        Assert.Equal(0, Num((await GetDialogueAsync(ns, d))["totalMessages"]));
        Assert.Equal("orig", Str((await GetAsync($"memory/{mem}?namespace={ns}")).Expect(HttpStatusCode.OK).Object["label"]));
        Assert.Single((await GetAsync($"dialogue?namespace={ns}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray());
        Assert.Single((await GetAsync($"memory?namespace={ns}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray());
    }

    public static TheoryData<string, string, string> ArrayWhereObjectRequired => new()
    {
        { "POST", "dialogue?namespace={ns}", "[]" },
        { "POST", "dialogue?namespace={ns}", """[{"label":"x"}]""" },
        { "PUT", "dialogue/{d}?namespace={ns}", """[{"label":"x"}]""" },
        { "PUT", "dialogue/{d}/state?namespace={ns}", """[{"x":1}]""" },
        { "POST", "message?dialogueId={d}&namespace={ns}", """[{"role":"user","content":"x"}]""" },
        { "POST", "memory?namespace={ns}", """[{"value":1}]""" },
        { "PUT", "memory/{mem}?namespace={ns}", """[{"label":"x"}]""" },
        { "POST", "dialogue?namespace={ns}", "\"a string\"" },
        { "POST", "memory?namespace={ns}", "42" },
    };

    [Theory]
    [MemberData(nameof(ArrayWhereObjectRequired))]
    public async Task Body_NotAnObject_InvalidParameterAndNothingStored(string method, string route, string body)
    {
        var ns = NewNamespace();
        var d = Str((await CreateDialogueAsync(ns, new { label = "orig" }))["id"]);
        var mem = Str((await CreateMemoryAsync(ns, new { value = 1, label = "orig" }))["id"]);
        var path = route.Replace("{ns}", ns, StringComparison.Ordinal).Replace("{d}", d, StringComparison.Ordinal).Replace("{mem}", mem, StringComparison.Ordinal);

        (await SendAsync(new HttpMethod(method), path, body)).ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error");

        var dialogue = await GetDialogueAsync(ns, d);
        Assert.Equal("orig", Str(dialogue["label"]));
        Assert.Empty(dialogue["state"]!.AsObject());
        Assert.Equal(0, Num(dialogue["totalMessages"]));
        Assert.Single((await GetAsync($"dialogue?namespace={ns}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray());
        Assert.Single((await GetAsync($"memory?namespace={ns}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray());
    }

    [Theory]
    [InlineData("api/v1/", null)]
    [InlineData("", null)]
    [InlineData("api/v1/", "text/plain;charset=UTF-8")]
    [InlineData("", "text/plain;charset=UTF-8")]
    [InlineData("api/v1/", "text/plain")]
    [InlineData("api/v1/", "application/json")]
    [InlineData("", "application/json; charset=utf-8")]
    public async Task Body_AnyContentType_ParsedAsJson(string prefix, string? contentType)
    {
        var ns = NewNamespace();

        var dialogue = (await SendAsync(HttpMethod.Post, $"{prefix}dialogue?namespace={ns}", """{"label":"sdk 👋","tags":["t"]}""", contentType))
            .Expect(HttpStatusCode.OK).Object;
        var id = Str(dialogue["id"]);
        var batch = (await SendAsync(HttpMethod.Post, $"{prefix}messages?dialogueId={id}&namespace={ns}", """[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]""", contentType))
            .Expect(HttpStatusCode.OK).Array;
        var state = (await SendAsync(HttpMethod.Put, $"{prefix}dialogue/{id}/state?namespace={ns}", """{"step":3}""", contentType)).Expect(HttpStatusCode.OK).Object;
        var memory = (await SendAsync(HttpMethod.Post, $"{prefix}memory?namespace={ns}", """{"value":{"k":"v"}}""", contentType)).Expect(HttpStatusCode.OK).Object;
        (await SendAsync(HttpMethod.Put, $"{prefix}memory/{Str(memory["id"])}?namespace={ns}", """{"label":"set"}""", contentType)).Expect(HttpStatusCode.OK);

        Assert.Equal("sdk 👋", Str(dialogue["label"]));
        Assert.Equal(2, batch.Count);
        Assert.Equal(3, Num(state["step"]));
        Assert.Equal("object", Str(memory["type"]));
        Assert.Equal("set", Str((await GetAsync($"memory/{Str(memory["id"])}?namespace={ns}")).Expect(HttpStatusCode.OK).Object["label"]));
    }

    [Theory]
    [InlineData("api/v1/", null)]
    [InlineData("", "text/plain;charset=UTF-8")]
    [InlineData("api/v1/", "application/json")]
    public async Task Delete_JsonBodyWithNamespace_AcceptedAndUsed(string prefix, string? contentType)
    {
        var ns = NewNamespace();
        var body = $$"""{"namespace":"{{ns}}"}""";
        var dialogue = await CreateDialogueAsync(ns, new { message = new { role = "user", content = "x" } });
        var d = Str(dialogue["id"]);
        var m = Str(dialogue["messages"]![0]!["id"]);
        var mem = Str((await CreateMemoryAsync(ns, new { value = 1 }))["id"]);
        var other = Str((await CreateMemoryAsync(ns, new { value = 2 }))["id"]);

        (await SendAsync(HttpMethod.Delete, $"{prefix}message/{m}?dialogueId={d}", body, contentType)).Expect(HttpStatusCode.OK);
        (await SendAsync(HttpMethod.Delete, $"{prefix}memory/{mem}", body, contentType)).Expect(HttpStatusCode.OK);
        (await SendAsync(HttpMethod.Delete, $"{prefix}memory/{other}?namespace={ns}", "{}", contentType)).Expect(HttpStatusCode.OK);
        var deleted = (await SendAsync(HttpMethod.Delete, $"{prefix}dialogue/{d}", body, contentType)).Expect(HttpStatusCode.OK).Object;

        Assert.Equal(d, Str(deleted["id"]));
        (await GetAsync($"dialogue/{d}?namespace={ns}")).ExpectError(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND", "not_found");
        (await GetAsync($"memory/{mem}?namespace={ns}")).ExpectError(HttpStatusCode.NotFound, "MEMORY_NOT_FOUND", "not_found");
        (await GetAsync($"memory/{other}?namespace={ns}")).ExpectError(HttpStatusCode.NotFound, "MEMORY_NOT_FOUND", "not_found");
    }

    [Theory]
    [InlineData("dialogue?namespace={0}&foo=1", "foo")]
    [InlineData("api/v1/memory?namespace={0}&sort=created", "sort")]
    [InlineData("dialogue/{1}?namespace={0}&expand=messages", "expand")]
    [InlineData("messages?dialogueId={1}&namespace={0}&page=2", "page")]
    [InlineData("dialogue?namespace={0}&Limit=5", "Limit")]
    public async Task UnknownQueryParameter_InvalidParameterNamingIt(string route, string parameter)
    {
        var ns = NewNamespace();
        var d = Str((await CreateDialogueAsync(ns))["id"]);

        var error = (await GetAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, route, ns, d)))
            .ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error");

        Assert.Contains(parameter, error.DetailFields());
    }

    [Fact]
    public async Task UnknownQueryParameterOnWrite_RejectedAndNothingStored()
    {
        var ns = NewNamespace();

        (await PostAsync($"dialogue?namespace={ns}&dryRun=true", new { label = "x" })).ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error", "dryRun");

        Assert.Empty((await GetAsync($"dialogue?namespace={ns}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray());
    }

    [Theory]
    [InlineData("tags", "\"support\"")]
    [InlineData("label", "[\"x\"]")]
    [InlineData("state", "true")]
    [InlineData("metadata", "\"flat?\"")]
    public async Task Body_WrongFieldType_InvalidParameterNamingField(string field, string value)
    {
        var ns = NewNamespace();

        var error = (await PostAsync($"dialogue?namespace={ns}", $$"""{"{{field}}":{{value}}}"""))
            .ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error", field);

        Assert.StartsWith($"Invalid {field}", Str(error["message"]), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Emoji 🎉👩‍💻🇺🇦")]
    [InlineData("漢字かなカナ한글")]
    [InlineData("עברית ועוד العربية")]
    [InlineData("Mixed: ℌ𝔢𝔩𝔩𝔬 \u202Eevil\u202C ok")]
    public async Task Unicode_LabelsTagsStateAndValues_RoundTripExactly(string text)
    {
        var ns = NewNamespace();
        var dialogue = await CreateDialogueAsync(ns, new JsonObject
        {
            ["label"] = text,
            ["tags"] = new JsonArray(text),
            ["state"] = new JsonObject { [text] = text },
            ["metadata"] = new JsonObject { ["note"] = text },
        });
        var id = Str(dialogue["id"]);
        var memory = await CreateMemoryAsync(ns, new JsonObject { ["value"] = new JsonObject { ["text"] = text }, ["description"] = text });

        var fetched = await GetDialogueAsync(ns, id);
        Assert.Equal(text, Str(fetched["label"]));
        Assert.Equal(text, Str(fetched["tags"]![0]));
        Assert.Equal(text, Str(fetched["state"]![text]));
        Assert.Equal(text, Str(fetched["metadata"]!["note"]));
        var fetchedMemory = (await GetAsync($"memory/{Str(memory["id"])}?namespace={ns}")).Expect(HttpStatusCode.OK).Object;
        Assert.Equal(text, Str(fetchedMemory["value"]!["text"]));
        Assert.Equal(text, Str(fetchedMemory["description"]));
    }

    [Theory]
    [InlineData("api/v1/")]
    [InlineData("")]
    public async Task ColonIds_UnescapedInPaths_WorkOnEveryRoute(string prefix)
    {
        var ns = NewNamespace();
        var d = "chat:user:42:" + Guid.NewGuid().ToString("N")[..8];
        var m = "msg:1:" + Guid.NewGuid().ToString("N")[..8];
        var m2 = "msg:2:" + Guid.NewGuid().ToString("N")[..8];
        await CreateDialogueAsync(ns, new { id = d }, prefix);

        (await PostAsync($"{prefix}dialogue/{d}/messages?namespace={ns}", new { id = m, role = "user", content = "x" })).Expect(HttpStatusCode.OK);
        (await PostAsync($"{prefix}message?dialogueId={d}&namespace={ns}", new { id = m2, role = "user", content = "y" })).Expect(HttpStatusCode.OK);
        Assert.Equal(d, Str((await GetAsync($"{prefix}dialogue/{d}?namespace={ns}")).Expect(HttpStatusCode.OK).Object["id"]));
        Assert.Equal(d, Str((await GetAsync($"{prefix}dialogue/{Uri.EscapeDataString(d)}?namespace={ns}")).Expect(HttpStatusCode.OK).Object["id"]));
        (await PutAsync($"{prefix}dialogue/{d}?namespace={ns}", new { id = d, label = "colons" })).Expect(HttpStatusCode.OK);
        (await PutAsync($"{prefix}dialogue/{d}/state?namespace={ns}", new { k = 1 })).Expect(HttpStatusCode.OK);
        Assert.Equal([m, m2], Ids((await GetAsync($"{prefix}dialogue/{d}/messages?namespace={ns}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray()));
        Assert.Equal(m, Str((await GetAsync($"{prefix}message/{m}?dialogueId={d}&namespace={ns}")).Expect(HttpStatusCode.OK).Object["id"]));
        Assert.Equal(m, Str((await GetAsync($"{prefix}messages/{m}?dialogueId={Uri.EscapeDataString(d)}&namespace={ns}")).Expect(HttpStatusCode.OK).Object["id"]));
        (await PutAsync($"{prefix}messages/{m}?dialogueId={d}&namespace={ns}", """{"tags":["c"]}""")).Expect(HttpStatusCode.OK);
        (await DeleteAsync($"{prefix}dialogue/{d}/message/{m2}?namespace={ns}")).Expect(HttpStatusCode.OK);
        var ended = (await PostAsync($"{prefix}dialogue/{d}/end?namespace={ns}", new JsonObject())).Expect(HttpStatusCode.OK).Object;

        Assert.Equal("colons", Str(ended["label"]));
        Assert.Equal(1, Num(ended["totalMessages"]));
        (await DeleteAsync($"{prefix}dialogue/{d}?namespace={ns}")).Expect(HttpStatusCode.OK);
        (await GetAsync($"{prefix}dialogue/{d}?namespace={ns}")).ExpectError(HttpStatusCode.NotFound, "DIALOGUE_NOT_FOUND", "not_found");
    }

    [Theory]
    [InlineData(SslProtocols.Tls12)]
    [InlineData(SslProtocols.Tls13)]
    public async Task Tls_ModernProtocol_Served(SslProtocols protocol)
    {
        using var handler = new SocketsHttpHandler();
        handler.SslOptions.EnabledSslProtocols = protocol;
        // Only the protocol is under test here; the fixture's own client verifies the certificate chain.
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null;
        using var client = new HttpClient(handler) { BaseAddress = Api.BaseAddress };
        client.DefaultRequestHeaders.Authorization = new("Bearer", Api.ApiKey);

        var response = await SendAsync(HttpMethod.Get, $"dialogue?namespace={NewNamespace()}", client: client);

        response.Expect(HttpStatusCode.OK);
        Assert.Empty(response.Object["items"]!.AsArray());
    }

    [Fact]
    public async Task PlainHttp_OnApiPort_ServesNoData()
    {
        var ns = NewNamespace();
        await CreateDialogueAsync(ns, new { label = "secret-label" });
        var plain = new UriBuilder(Api.BaseAddress) { Scheme = "http" }.Uri;
        using var client = new HttpClient { BaseAddress = plain, Timeout = TimeSpan.FromSeconds(10) };
        client.DefaultRequestHeaders.Authorization = new("Bearer", Api.ApiKey);

        HttpResponseMessage? response = null;
        try
        {
            response = await client.GetAsync($"api/v1/dialogue?namespace={ns}", Ct);
        }
        catch (HttpRequestException)
        {
            // The TLS listener refusing a plaintext connection is the expected outcome.
        }

        using (response)
        {
            if (response is not null)
            {
                Assert.False(response.IsSuccessStatusCode, $"plain HTTP answered {(int)response.StatusCode}");
                Assert.DoesNotContain("secret-label", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
            }
        }
    }
}

public sealed class TransportSqlite(SqliteApiFixture api) : Transport(api), IClassFixture<SqliteApiFixture>;

public sealed class TransportPostgres(PostgresApiFixture api) : Transport(api), IClassFixture<PostgresApiFixture>;
