using System.Globalization;
using System.Text.Json;

namespace DialogueDb.Service.Api.Search;

/// <summary>A validated <c>POST /search</c> body (contract §10).</summary>
internal sealed record SearchRequest(
    string Query,
    string Object,
    int Limit,
    string Mode,
    string? DialogueId,
    TagFilter? Tags,
    MetadataFilter? Metadata,
    DateRange? Created,
    DateRange? Modified,
    bool? HasImage,
    string OrderBy,
    bool Descending)
{
    public const int MaxQueryLength = 4096;
    public const int DefaultLimit = 10;
    public const int MaxLimit = 100;

    private static readonly string[] Objects = ["message", "dialogue", "memory"];
    private static readonly string[] Modes = ["hybrid", "semantic", "keyword"];
    private static readonly string[] OrderBys = ["relevance", "created", "modified"];
    private static readonly string[] RangeOperators = ["gte", "gt", "lte", "lt"];
    private static readonly string[] MetadataOperators = ["$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte"];

    /// <summary>Old filter keys and what replaces them.</summary>
    private static readonly Dictionary<string, string> Deprecated = new(StringComparer.Ordinal)
    {
        ["createdYear"] = "filter.created (e.g. \"2025\")",
        ["createdMonth"] = "filter.created (e.g. \"March 2025\")",
        ["createdDay"] = "filter.created (e.g. \"2025-03-14\")",
        ["createdAfter"] = "filter.created.gte",
        ["createdBefore"] = "filter.created.lt",
        ["modifiedAfter"] = "filter.modified.gte",
        ["modifiedBefore"] = "filter.modified.lt",
    };

    public static (SearchRequest? Request, ApiError? Error) Parse(JsonElement body, DateTimeOffset now)
    {
        var rules = new InputRules();
        var query = rules.Text(body, "query", "query", MaxQueryLength);
        if (query is null && !InputRules.Has(body, "query"))
        {
            rules.Missing("query");
        }
        else if (query is not null && string.IsNullOrWhiteSpace(query))
        {
            rules.Invalid("query", "must contain more than white space");
        }

        var obj = OneOf(rules, body, "object", Objects, required: true);
        var mode = OneOf(rules, body, "mode", Modes) ?? "hybrid";
        var orderBy = OneOf(rules, body, "orderBy", OrderBys) ?? "relevance";
        var order = OneOf(rules, body, "order", ["asc", "desc"]) ?? "desc";
        var limit = ParseLimit(rules, body);
        var dialogueId = rules.Id(body, "dialogueId", "dialogueId");
        if (dialogueId is not null && obj is not null && obj != "message")
        {
            rules.Invalid("dialogueId", "applies to object 'message' only");
        }

        var tags = ParseTags(rules, body);
        var metadata = ParseMetadata(rules, body);
        var zone = Zone(rules, body);
        var (created, modified, hasImage) = Filter(rules, body, now, zone);
        if (rules.HasErrors)
        {
            return (null, rules.ToError());
        }

        return (new SearchRequest(query!, obj!, limit, mode, dialogueId, tags, metadata, created, modified, hasImage, orderBy,
            order == "desc"), null);
    }

    private static string? OneOf(InputRules rules, JsonElement body, string name, string[] allowed, bool required = false)
    {
        if (!body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            if (required)
            {
                rules.Missing(name);
            }

            return null;
        }

        if (value.ValueKind != JsonValueKind.String || !allowed.Contains(value.GetString(), StringComparer.Ordinal))
        {
            rules.Invalid(name, "must be one of " + string.Join(", ", allowed));
            return null;
        }

        return value.GetString();
    }

    private static int ParseLimit(InputRules rules, JsonElement body)
    {
        if (!body.TryGetProperty("limit", out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return DefaultLimit;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out var limit) || limit is < 1 or > MaxLimit)
        {
            rules.Invalid("limit", $"must be an integer from 1 to {MaxLimit}");
            return DefaultLimit;
        }

        return limit;
    }

    private static TagFilter? ParseTags(InputRules rules, JsonElement body)
    {
        if (!body.TryGetProperty("tags", out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind == JsonValueKind.Array)
        {
            return TagList(rules, value, "tags") is { } any ? new TagFilter(any, null, null) : null;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            rules.Invalid("tags", "must be an array of tags or an object with $in, $all or $nin");
            return null;
        }

        List<string>? anyOf = null, allOf = null, noneOf = null;
        var errors = rules.ErrorCount;
        foreach (var property in value.EnumerateObject())
        {
            if (property.Name is not ("$in" or "$all" or "$nin"))
            {
                rules.Invalid("tags." + property.Name, "unknown operator: use $in, $all or $nin");
                continue;
            }

            var list = TagList(rules, property.Value, "tags." + property.Name);
            _ = property.Name switch
            {
                "$in" => anyOf = list,
                "$all" => allOf = list,
                _ => noneOf = list,
            };
        }

        if (rules.ErrorCount > errors)
        {
            return null;
        }

        if (anyOf is null && allOf is null && noneOf is null)
        {
            rules.Invalid("tags", "needs at least one of $in, $all, $nin");
            return null;
        }

        return new TagFilter(anyOf, allOf, noneOf);
    }

    private static List<string>? TagList(InputRules rules, JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() == 0
            || value.EnumerateArray().Any(t => t.ValueKind != JsonValueKind.String || t.GetString()!.Length == 0))
        {
            rules.Invalid(path, "must be a non-empty array of non-empty strings");
            return null;
        }

        return [.. value.EnumerateArray().Select(t => t.GetString()!)];
    }

    private static MetadataFilter? ParseMetadata(InputRules rules, JsonElement body)
    {
        if (!body.TryGetProperty("metadata", out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            rules.Invalid("metadata", "must be an object of key conditions");
            return null;
        }

        var conditions = new List<MetadataCondition>();
        foreach (var property in value.EnumerateObject())
        {
            var path = "metadata." + property.Name;
            var condition = property.Value;
            if (IsPrimitive(condition))
            {
                conditions.Add(new MetadataCondition(property.Name, "$eq", [condition.Clone()]));
            }
            else if (condition.ValueKind == JsonValueKind.Array)
            {
                if (PrimitiveArray(rules, condition, path) is { } values)
                {
                    conditions.Add(new MetadataCondition(property.Name, "$in", values));
                }
            }
            else if (condition.ValueKind == JsonValueKind.Object && condition.EnumerateObject().Any())
            {
                foreach (var op in condition.EnumerateObject())
                {
                    var opPath = path + "." + op.Name;
                    if (!MetadataOperators.Contains(op.Name, StringComparer.Ordinal))
                    {
                        rules.Invalid(opPath, "unknown operator: use " + string.Join(", ", MetadataOperators));
                    }
                    else if (op.Name is "$in" or "$nin")
                    {
                        if (PrimitiveArray(rules, op.Value, opPath) is { } values)
                        {
                            conditions.Add(new MetadataCondition(property.Name, op.Name, values));
                        }
                    }
                    else if (!IsPrimitive(op.Value) || (op.Name is "$gt" or "$gte" or "$lt" or "$lte"
                        && op.Value.ValueKind is not (JsonValueKind.Number or JsonValueKind.String)))
                    {
                        rules.Invalid(opPath, op.Name is "$eq" or "$ne" ? "must be a string, number or boolean" : "must be a number or string");
                    }
                    else
                    {
                        conditions.Add(new MetadataCondition(property.Name, op.Name, [op.Value.Clone()]));
                    }
                }
            }
            else
            {
                rules.Invalid(path, "must be a string, number, boolean, an array of one of those, or an operator object");
            }
        }

        return new MetadataFilter(conditions);
    }

    private static bool IsPrimitive(JsonElement value) =>
        value.ValueKind is JsonValueKind.String or JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False;

    private static List<JsonElement>? PrimitiveArray(InputRules rules, JsonElement value, string path)
    {
        var items = value.ValueKind == JsonValueKind.Array ? value.EnumerateArray().ToList() : [];
        var kinds = items.Select(i => i.ValueKind is JsonValueKind.True ? JsonValueKind.False : i.ValueKind).Distinct().ToList();
        if (items.Count == 0 || !items.All(IsPrimitive) || kinds.Count != 1)
        {
            rules.Invalid(path, "must be a non-empty array of strings, numbers or booleans (one type)");
            return null;
        }

        return [.. items.Select(i => i.Clone())];
    }

    private static TimeZoneInfo Zone(InputRules rules, JsonElement body)
    {
        var (path, value) = body.TryGetProperty("timezone", out var top) ? ("timezone", top)
            : body.TryGetProperty("filter", out var f) && f.ValueKind == JsonValueKind.Object && f.TryGetProperty("timezone", out var inner)
                ? ("filter.timezone", inner) : ("", default);
        if (path.Length == 0 || value.ValueKind == JsonValueKind.Null)
        {
            return TimeZoneInfo.Utc;
        }

        if (value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 and <= 64 } id
            && TimeZoneInfo.TryFindSystemTimeZoneById(id, out var zone))
        {
            return zone;
        }

        rules.Invalid(path, "must be an IANA time zone such as Europe/Berlin");
        return TimeZoneInfo.Utc;
    }

    private static (DateRange? Created, DateRange? Modified, bool? HasImage) Filter(InputRules rules, JsonElement body,
        DateTimeOffset now, TimeZoneInfo zone)
    {
        foreach (var (old, replacement) in Deprecated)
        {
            if (InputRules.Has(body, old))
            {
                rules.Invalid(old, $"is no longer supported: use {replacement}");
            }
        }

        if (!body.TryGetProperty("filter", out var filter) || filter.ValueKind == JsonValueKind.Null)
        {
            return (null, null, null);
        }

        if (filter.ValueKind != JsonValueKind.Object)
        {
            rules.Invalid("filter", "must be an object");
            return (null, null, null);
        }

        DateRange? created = null, modified = null;
        bool? hasImage = null;
        foreach (var property in filter.EnumerateObject())
        {
            var path = "filter." + property.Name;
            switch (property.Name)
            {
                case "created":
                    created = Range(rules, property.Value, path, now, zone);
                    break;
                case "modified":
                    modified = Range(rules, property.Value, path, now, zone);
                    break;
                case "hasImage":
                    if (property.Value.ValueKind is JsonValueKind.True or JsonValueKind.False)
                    {
                        hasImage = property.Value.GetBoolean();
                    }
                    else
                    {
                        rules.Invalid(path, "must be a boolean");
                    }

                    break;
                case "timezone":
                    break;
                default:
                    rules.Invalid(path, Deprecated.TryGetValue(property.Name, out var replacement)
                        ? $"is no longer supported: use {replacement}"
                        : "unknown filter: use created, modified, hasImage or timezone");
                    break;
            }
        }

        return (created, modified, hasImage);
    }

    private static DateRange? Range(InputRules rules, JsonElement value, string path, DateTimeOffset now, TimeZoneInfo zone)
    {
        if (value.ValueKind == JsonValueKind.String)
        {
            var text = value.GetString()!;
            if (IsoDay(text) is { } day)
            {
                return new DateRange(DatePhrases.Instant(day, zone), DatePhrases.Instant(day.AddDays(1), zone));
            }

            if (IsoInstant(text) is { } instant)
            {
                return new DateRange(instant, null);
            }

            if (DatePhrases.Resolve(text, now, zone) is { } phrase)
            {
                return phrase;
            }

            rules.Invalid(path, $"unknown date phrase '{Shorten(text)}': use an ISO date or date-time, {{gte,gt,lte,lt}}, or one of: " +
                DatePhrases.Documented);
            return null;
        }

        if (value.ValueKind != JsonValueKind.Object || !value.EnumerateObject().Any())
        {
            rules.Invalid(path, "must be an ISO date or date-time, a date phrase, or an object with gte, gt, lte or lt");
            return null;
        }

        var range = new DateRange(null, null);
        foreach (var bound in value.EnumerateObject())
        {
            var boundPath = path + "." + bound.Name;
            if (!RangeOperators.Contains(bound.Name, StringComparer.Ordinal))
            {
                rules.Invalid(boundPath, "unknown operator: use gte, gt, lte or lt");
                continue;
            }

            var text = bound.Value.ValueKind == JsonValueKind.String ? bound.Value.GetString()! : "";
            long? at = IsoDay(text) is { } d
                ? DatePhrases.Instant(bound.Name is "gt" or "lte" ? d.AddDays(1) : d, zone)
                : IsoInstant(text) is { } i ? (bound.Name is "gt" or "lte" ? i + 1 : i) : null;
            if (at is null)
            {
                rules.Invalid(boundPath, "must be an ISO date or date-time");
                continue;
            }

            // Dates count whole days: gt/lte a date means after/up to the end of that day.
            range = DateRange.Intersect(range, bound.Name is "gte" or "gt" ? new DateRange(at, null) : new DateRange(null, at));
        }

        return range;
    }

    private static DateTime? IsoDay(string text) =>
        DateTime.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day) ? day : null;

    private static long? IsoInstant(string text) =>
        text.Contains('T', StringComparison.Ordinal)
        && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at)
            ? at.ToUnixTimeMilliseconds() : null;

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "…";
}
