using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Conformance;

/// <summary>
/// A generated fuzz of every body field of every writing route: wrong types, NUL, lone surrogates, invalid UTF-8, huge
/// numbers, duplicate keys and deep nesting in each position. Every answer is either a success that reads back or a
/// 4xx envelope that changed nothing; text that cannot be decoded is always a 400 naming its field; nothing the client
/// sends makes the service log an error or a stack trace.
/// </summary>
public abstract class HostileInput(ApiFixture api) : ConformanceTest(api)
{
    private const string Placeholder = "__HOSTILE__";

    /// <summary>A writing route with a valid body; <c>{ns}</c>, <c>{dialogue}</c> and <c>{id}</c> are filled per case.</summary>
    private sealed record Route(string Name, string Method, string Path, string Body, string[] Fields, string? Setup);

    // Field paths: "a.b" for object members, "[0]" for array items, "{key}" for a property name of that object.
    private static readonly Route[] Routes =
    [
        new("dialogue.create", "POST", "dialogue?namespace={ns}",
            """{"id":"fz-d","label":"l","tags":["t"],"metadata":{"k":"v"},"state":{"s":"v"}}""",
            ["id", "label", "tags", "tags[0]", "metadata", "metadata.k", "metadata.{key}", "state", "state.s", "state.{key}"], null),
        new("message.create", "POST", "message?dialogueId={dialogue}&namespace={ns}",
            """{"id":"fz-m","role":"user","content":"c","name":"n","created":"2026-01-01T00:00:00.000Z","tags":["t"],"metadata":{"k":"v"}}""",
            ["id", "role", "content", "name", "created", "tags", "tags[0]", "metadata", "metadata.k", "metadata.{key}"], null),
        new("messages.batch", "POST", "messages?dialogueId={dialogue}&namespace={ns}",
            """[{"role":"user","content":[{"type":"text","text":"c"}],"name":"n","tags":["t"],"metadata":{"k":"v"}}]""",
            ["[0].role", "[0].content", "[0].content[0].text", "[0].name", "[0].tags[0]", "[0].metadata.k", "[0].metadata.{key}"], null),
        new("memory.create", "POST", "memory?namespace={ns}",
            """{"id":"fz-y","value":"v","term":"short","label":"l","description":"d","tags":["t"],"metadata":{"k":"v"}}""",
            ["id", "value", "term", "label", "description", "tags[0]", "metadata", "metadata.k", "metadata.{key}"], null),
        new("dialogue.update", "PUT", "dialogue/{id}?namespace={ns}",
            """{"label":"l2","tags":["t2"],"metadata":{"k":"v"},"state":{"s":"v2"}}""",
            ["label", "tags", "tags[0]", "metadata.k", "state", "state.s", "state.{key}"], "dialogue"),
        new("dialogue.state", "PUT", "dialogue/{id}/state?namespace={ns}", """{"s":"v2"}""", ["s", "{key}"], "dialogue"),
        new("memory.update", "PUT", "memory/{id}?namespace={ns}",
            """{"term":"long","label":"l2","description":"d2","tags":["t2"],"metadata":{"k":"v"}}""",
            ["term", "label", "description", "tags[0]", "metadata.k", "metadata.{key}"], "memory"),
        new("message.update", "PUT", "message/{id}?dialogueId={dialogue}&namespace={ns}",
            """{"tags":["t2"],"metadata":{"k":"v"}}""", ["tags", "tags[0]", "metadata.k", "metadata.{key}"], "message"),
    ];

    /// <summary>Raw JSON put where the field was; the undecodable ones must always be refused.</summary>
    private static readonly Dictionary<string, byte[]> Values = new()
    {
        ["number"] = "12345"u8.ToArray(),
        ["huge-integer"] = "123456789012345678901234567890123456789"u8.ToArray(),
        ["huge-exponent"] = "1e999999"u8.ToArray(),
        ["boolean"] = "true"u8.ToArray(),
        ["null"] = "null"u8.ToArray(),
        ["array"] = """["x",1]"""u8.ToArray(),
        ["object"] = """{"x":{"y":1}}"""u8.ToArray(),
        ["empty-string"] = "\"\""u8.ToArray(),
        ["nul"] = "\"a\\u0000b\""u8.ToArray(),
        ["deep"] = Encoding.ASCII.GetBytes(new string('[', 80) + new string(']', 80)),
        ["lone-high-surrogate"] = "\"\\ud800\""u8.ToArray(),
        ["lone-low-surrogate"] = "\"x\\udc00y\""u8.ToArray(),
        ["invalid-utf8"] = [(byte)'"', (byte)'a', 0xFF, 0xFE, (byte)'b', (byte)'"'],
        ["overlong-utf8"] = [(byte)'"', 0xC0, 0xAF, (byte)'"'],
        ["truncated-utf8"] = [(byte)'"', (byte)'x', 0xE2, 0x82, (byte)'"'],
    };

    private static readonly HashSet<string> Undecodable =
        ["lone-high-surrogate", "lone-low-surrogate", "invalid-utf8", "overlong-utf8", "truncated-utf8"];

    public static TheoryData<string, string, string> Cases()
    {
        var cases = new TheoryData<string, string, string>();
        foreach (var route in Routes)
        {
            foreach (var field in route.Fields)
            {
                foreach (var value in Values.Keys)
                {
                    // A property name can only be a string.
                    if (!field.EndsWith("{key}", StringComparison.Ordinal) || value is "empty-string" or "nul" || Undecodable.Contains(value))
                    {
                        cases.Add(route.Name, field, value);
                    }
                }

                cases.Add(route.Name, field, "duplicate-key");
            }
        }

        return cases;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Field_HostileValue_FourXxEnvelopeOrReadableAndNeverAnError(string routeName, string field, string value)
    {
        var route = Routes.Single(r => r.Name == routeName);
        var ns = NewNamespace();
        var (path, readBack) = await PrepareAsync(route, ns);
        var before = await SnapshotAsync(readBack);

        var response = await SendBytesAsync(new HttpMethod(route.Method), path, Body(route.Body, field, value));

        var status = (int)response.Status;
        Assert.True(status is (>= 200 and < 300) or (>= 400 and < 500), $"{routeName} {field}={value}: {status} {response.Body}");
        if (status >= 400)
        {
            var error = response.Object["error"]!.AsObject();
            response.ExpectError(response.Status, Str(error["code"]), Str(error["type"]));
            Assert.Equal(before, await SnapshotAsync(readBack));
        }
        else
        {
            Assert.False(Undecodable.Contains(value) || value is "deep" or "duplicate-key",
                $"{routeName} {field}={value} was accepted: {response.Body}");
            Assert.NotNull(await SnapshotAsync(readBack));
        }

        if (Undecodable.Contains(value))
        {
            var expected = field.EndsWith("{key}", StringComparison.Ordinal)
                ? (field.Length > "{key}".Length ? field[..^".{key}".Length] : "body")
                : field;
            response.ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error", expected);
        }

        AssertNoErrorLogged();
    }

    [Theory]
    [InlineData("dialogue", "label")]
    [InlineData("memory", "label")]
    [InlineData("memory", "description")]
    [InlineData("message", "name")]
    [InlineData("message", "role")]
    public async Task TextField_Nul_BadRequestNamingTheFieldOnEveryEngine(string resource, string field)
    {
        var ns = NewNamespace();
        var dialogue = Str((await CreateDialogueAsync(ns))["id"]);
        var (path, body) = resource switch
        {
            "dialogue" => ($"dialogue?namespace={ns}", $$"""{"{{field}}":"a\u0000b"}"""),
            "memory" => ($"memory?namespace={ns}", $$"""{"value":1,"{{field}}":"a\u0000b"}"""),
            _ => ($"message?dialogueId={dialogue}&namespace={ns}",
                field == "role" ? """{"role":"a\u0000b","content":"c"}""" : """{"role":"user","content":"c","name":"a\u0000b"}"""),
        };

        (await SendAsync(HttpMethod.Post, path, body)).ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error", field);

        var list = resource switch
        {
            "dialogue" => $"dialogue?namespace={ns}",
            "memory" => $"memory?namespace={ns}",
            _ => $"messages?dialogueId={dialogue}&namespace={ns}",
        };
        var items = (await GetAsync(list)).Expect(HttpStatusCode.OK).Object["items"]!.AsArray();
        Assert.Equal(resource == "dialogue" ? [dialogue] : [], Ids(items));
        AssertNoErrorLogged();
    }

    [Fact]
    public async Task Metadata_LoneSurrogateValue_RefusedSoItCanNeverBeEchoedBack()
    {
        var ns = NewNamespace();

        (await SendAsync(HttpMethod.Post, $"dialogue?namespace={ns}", """{"metadata":{"k":"\ud800"}}"""))
            .ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error", "metadata.k");
        var id = Str((await CreateDialogueAsync(ns, new { metadata = new { k = "v" } }))["id"]);
        (await SendAsync(HttpMethod.Put, $"dialogue/{id}?namespace={ns}", """{"metadata":{"k":"\ud800"}}"""))
            .ExpectError(HttpStatusCode.BadRequest, "INVALID_PARAMETER", "validation_error", "metadata.k");

        Assert.Equal("""{"k":"v"}""", Compact((await GetDialogueAsync(ns, id))["metadata"]));
        AssertNoErrorLogged();
    }

    public static TheoryData<string, string, string> QueryAndPathCases()
    {
        // Percent-encoded as a client would send them: NUL, a UTF-8-encoded lone surrogate, invalid, overlong and
        // truncated UTF-8. Ids and namespaces in the query and the path; {v} is the hostile value.
        string[] values = ["%00", "a%00b", "%ED%A0%80", "%FF%FE", "%C0%AF", "x%E2%82"];
        (string Method, string Path)[] places =
        [
            ("GET", "dialogue?namespace={v}"), ("POST", "dialogue?namespace={v}"), ("GET", "dialogue/{v}?namespace={ns}"),
            ("DELETE", "memory/{v}?namespace={ns}"), ("GET", "messages?dialogueId={v}&namespace={ns}"),
            ("GET", "dialogue?threadOf={v}&namespace={ns}"), ("PUT", "dialogue/{v}/state?namespace={ns}"),
        ];
        var cases = new TheoryData<string, string, string>();
        foreach (var (method, path) in places)
        {
            foreach (var value in values)
            {
                cases.Add(method, path, value);
            }
        }

        return cases;
    }

    [Theory]
    [MemberData(nameof(QueryAndPathCases))]
    public async Task QueryOrPathId_NulSurrogateOrInvalidUtf8_FourXxEnvelopeAndNothingStored(string method, string template, string value)
    {
        var ns = NewNamespace();
        var path = "api/v1/" + template.Replace("{ns}", ns, StringComparison.Ordinal).Replace("{v}", value, StringComparison.Ordinal);

        var response = await SendAsync(new HttpMethod(method), path, method is "POST" or "PUT" ? "{}" : null);

        Assert.True((int)response.Status is >= 400 and < 500, $"{method} {path}: {(int)response.Status} {response.Body}");
        var error = response.Object["error"]!.AsObject();
        response.ExpectError(response.Status, Str(error["code"]), Str(error["type"]));
        Assert.Empty((await GetAsync($"dialogue?namespace={ns}")).Expect(HttpStatusCode.OK).Object["items"]!.AsArray());
        AssertNoErrorLogged();
    }

    [Theory]
    [InlineData("dialogue/{id}", "Dialogue")]
    [InlineData("memory/{id}", "Memory")]
    [InlineData("message/{id}?dialogueId=nope", "Message")]
    public async Task NotFound_VeryLongId_MessageTruncated(string template, string what)
    {
        var id = new string('x', 8000);

        var response = await GetAsync(template.Replace("{id}", id, StringComparison.Ordinal));

        var status = response.Status;
        Assert.True(status is HttpStatusCode.NotFound or HttpStatusCode.BadRequest, $"{(int)status}: {response.Body[..200]}");
        Assert.True(response.Body.Length < 1000, $"{what} error body has {response.Body.Length} characters");
        AssertNoErrorLogged();
    }

    [Fact]
    public async Task Head_OverHttp2_HeadersOnly()
    {
        using var client = Api.CreateClient(Api.ApiKey);
        using var request = new HttpRequestMessage(HttpMethod.Head, "api/v1/dialogue?namespace=" + NewNamespace())
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };

        using var response = await client.SendAsync(request, Ct);

        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.True((int)response.StatusCode is >= 200 and < 500, $"{(int)response.StatusCode}");
        Assert.Empty(await response.Content.ReadAsByteArrayAsync(Ct));
        AssertNoErrorLogged();
    }

    [Fact]
    public async Task ChunkedBody_ChunkSizeOverflow_BadRequestEnvelope()
    {
        var raw = $"POST /api/v1/dialogue HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {Api.ApiKey}\r\n" +
                  "Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n";

        var answer = await RawHttps.SendAsync(Api.BaseAddress, Api.DataDir, Encoding.ASCII.GetBytes(raw), Ct);

        Assert.StartsWith("HTTP/1.1 400", answer, StringComparison.Ordinal);
        Assert.Contains("\"code\":\"INVALID_PARAMETER\"", answer, StringComparison.Ordinal);
        AssertNoErrorLogged();
    }

    /// <summary>Creates what the route needs; returns its path and the GET that shows what it could change.</summary>
    private async Task<(string Path, string ReadBack)> PrepareAsync(Route route, string ns)
    {
        var dialogue = Str((await CreateDialogueAsync(ns, new { label = "kept", state = new { s = "kept" } }))["id"]);
        string id = dialogue, readBack;
        switch (route.Setup)
        {
            case "memory":
                id = Str((await CreateMemoryAsync(ns, new { value = "kept", label = "kept", tags = new[] { "kept" } }))["id"]);
                readBack = $"memory/{id}?namespace={ns}";
                break;
            case "message":
                id = Str((await AddMessageAsync(ns, dialogue, new { role = "user", content = "kept", tags = new[] { "kept" } }))["id"]);
                readBack = $"messages?dialogueId={dialogue}&namespace={ns}";
                break;
            case "dialogue":
                readBack = $"dialogue/{dialogue}?namespace={ns}";
                break;
            default:
                readBack = route.Name.StartsWith("memory", StringComparison.Ordinal)
                    ? $"memory?namespace={ns}"
                    : route.Name.StartsWith("dialogue", StringComparison.Ordinal)
                        ? $"dialogue?namespace={ns}"
                        : $"messages?dialogueId={dialogue}&namespace={ns}";
                break;
        }

        var path = route.Path.Replace("{ns}", ns, StringComparison.Ordinal).Replace("{dialogue}", dialogue, StringComparison.Ordinal)
            .Replace("{id}", id, StringComparison.Ordinal);
        return (path, readBack);
    }

    /// <summary>What the read-back shows, without the per-request id; null when it does not read back (a failure).</summary>
    private async Task<string?> SnapshotAsync(string readBack)
    {
        var response = await GetAsync(readBack);
        if (response.Status != HttpStatusCode.OK)
        {
            return null;
        }

        var json = response.Object;
        WithoutRequestIds(json);
        return json.ToJsonString();
    }

    private static void WithoutRequestIds(JsonNode? node)
    {
        if (node is JsonObject obj)
        {
            obj.Remove("requestId");
            foreach (var (_, value) in obj)
            {
                WithoutRequestIds(value);
            }
        }
        else if (node is JsonArray array)
        {
            foreach (var item in array)
            {
                WithoutRequestIds(item);
            }
        }
    }

    /// <summary>The route's body with the hostile value put at <paramref name="field"/>.</summary>
    private static byte[] Body(string template, string field, string value)
    {
        var root = JsonNode.Parse(template)!;
        var segments = Segments(field);
        var (parent, last) = Navigate(root, segments);
        if (value == "duplicate-key")
        {
            // The field's own object gets a second member of the same name (the first member of it, for items and keys).
            var ownerNode = parent;
            while (ownerNode is not JsonObject)
            {
                ownerNode = ownerNode.Parent!;
            }

            var owner = (JsonObject)ownerNode;
            var name = last is string s && s != "{key}" ? s : owner.First().Key;
            var text = owner.ToJsonString();
            var duplicated = "{" + JsonValue.Create(name).ToJsonString() + ":\"dup\"," + text[1..];
            if (ReferenceEquals(owner, root))
            {
                return Encoding.UTF8.GetBytes(duplicated);
            }

            var ownerPlaceholder = Placeholder + "owner";
            Replace(owner, JsonValue.Create(ownerPlaceholder));
            return Splice(root.ToJsonString(), ownerPlaceholder, Encoding.UTF8.GetBytes(duplicated));
        }

        if (last is "{key}")
        {
            var obj = (JsonObject)parent;
            var first = obj.First();
            obj.Remove(first.Key);
            obj[Placeholder] = first.Value?.DeepClone();
            return Splice(root.ToJsonString(), Placeholder, Values[value]);
        }

        if (last is string member)
        {
            ((JsonObject)parent)[member] = Placeholder;
        }
        else
        {
            ((JsonArray)parent)[(int)last] = Placeholder;
        }

        return Splice(root.ToJsonString(), Placeholder, Values[value]);
    }

    private static List<object> Segments(string field)
    {
        var segments = new List<object>();
        foreach (var part in field.Split('.'))
        {
            var name = part;
            var bracket = name.IndexOf('[', StringComparison.Ordinal);
            if (bracket != 0 && name.Length > 0)
            {
                segments.Add(bracket < 0 ? name : name[..bracket]);
            }

            while (bracket >= 0)
            {
                var close = name.IndexOf(']', bracket);
                segments.Add(int.Parse(name[(bracket + 1)..close], System.Globalization.CultureInfo.InvariantCulture));
                name = name[(close + 1)..];
                bracket = name.IndexOf('[', StringComparison.Ordinal);
            }
        }

        return segments;
    }

    private static (JsonNode Parent, object Last) Navigate(JsonNode root, List<object> segments)
    {
        var node = root;
        for (var i = 0; i < segments.Count - 1; i++)
        {
            node = segments[i] is int index ? node[index]! : node[(string)segments[i]]!;
        }

        return (node, segments[^1]);
    }

    private static void Replace(JsonNode target, JsonNode replacement)
    {
        var parent = target.Parent!;
        if (parent is JsonObject obj)
        {
            obj[target.GetPropertyName()] = replacement;
        }
        else
        {
            ((JsonArray)parent)[target.GetElementIndex()] = replacement;
        }
    }

    /// <summary>The JSON text with the quoted placeholder replaced by raw bytes (which may not be valid UTF-8).</summary>
    private static byte[] Splice(string json, string placeholder, byte[] raw)
    {
        var quoted = "\"" + placeholder + "\"";
        var at = json.IndexOf(quoted, StringComparison.Ordinal);
        Assert.True(at >= 0, $"placeholder missing in {json}");
        return [.. Encoding.UTF8.GetBytes(json[..at]), .. raw, .. Encoding.UTF8.GetBytes(json[(at + quoted.Length)..])];
    }

    private void AssertNoErrorLogged()
    {
        var errors = Api.Logs.Lines.Where(l => l.StartsWith("Error", StringComparison.Ordinal) || l.StartsWith("Critical", StringComparison.Ordinal)
            || l.Contains("   at ", StringComparison.Ordinal)).ToList();
        Assert.True(errors.Count == 0, "client input was logged as an error:\n" + string.Join('\n', errors.Take(3)));
    }
}

public sealed class HostileInputSqlite(SqliteApiFixture api) : HostileInput(api), IClassFixture<SqliteApiFixture>;

public sealed class HostileInputPostgres(PostgresApiFixture api) : HostileInput(api), IClassFixture<PostgresApiFixture>;
