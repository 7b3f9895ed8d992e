using System.Text.Json;

namespace DialogueDb.Service.Api.Search;

/// <summary>One metadata condition: <c>key op value(s)</c>; values are JSON primitives.</summary>
internal sealed record MetadataCondition(string Key, string Operator, IReadOnlyList<JsonElement> Values)
{
    /// <summary>
    /// Against the item's stored metadata value (absent = no value). A stored array of strings matches $eq when it holds
    /// the value and $in when it holds any of them (what a tag-like field means).
    /// </summary>
    public bool Matches(JsonElement? stored)
    {
        var present = stored is { } s ? (s.ValueKind == JsonValueKind.Array ? [.. s.EnumerateArray()] : new List<JsonElement> { s }) : [];
        return Operator switch
        {
            "$eq" => present.Any(p => Equal(p, Values[0])),
            "$ne" => !present.Any(p => Equal(p, Values[0])),
            "$in" => present.Any(p => Values.Any(v => Equal(p, v))),
            "$nin" => !present.Any(p => Values.Any(v => Equal(p, v))),
            _ => present.Any(p => Compare(p, Values[0]) is { } c && Operator switch
            {
                "$gt" => c > 0,
                "$gte" => c >= 0,
                "$lt" => c < 0,
                _ => c <= 0,
            }),
        };
    }

    private static bool Equal(JsonElement a, JsonElement b) => JsonElement.DeepEquals(a, b)
        || (a.ValueKind == JsonValueKind.Number && b.ValueKind == JsonValueKind.Number && a.GetDouble() == b.GetDouble());

    private static int? Compare(JsonElement a, JsonElement b) => (a.ValueKind, b.ValueKind) switch
    {
        (JsonValueKind.Number, JsonValueKind.Number) => a.GetDouble().CompareTo(b.GetDouble()),
        (JsonValueKind.String, JsonValueKind.String) => string.CompareOrdinal(a.GetString(), b.GetString()),
        _ => null,
    };
}
