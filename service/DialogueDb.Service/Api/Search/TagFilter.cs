using System.Text.Json;

namespace DialogueDb.Service.Api.Search;

/// <summary>A tags filter: any of <see cref="Any"/> ($in or a plain array), all of <see cref="All"/>, none of <see cref="None"/>.</summary>
internal sealed record TagFilter(IReadOnlyList<string>? Any, IReadOnlyList<string>? All, IReadOnlyList<string>? None)
{
    public bool Matches(string tagsJson)
    {
        using var document = JsonDocument.Parse(tagsJson);
        var tags = document.RootElement.EnumerateArray().Select(t => t.GetString()).ToHashSet(StringComparer.Ordinal);
        return (Any is null || Any.Any(tags.Contains)) && (All is null || All.All(tags.Contains)) && (None is null || !None.Any(tags.Contains));
    }
}
