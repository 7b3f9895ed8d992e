using System.Text.Json;

namespace DialogueDb.Service.Api.Search;

/// <summary>All metadata conditions of a request (every one must hold).</summary>
internal sealed record MetadataFilter(IReadOnlyList<MetadataCondition> Conditions)
{
    public bool Matches(string metadataJson)
    {
        using var document = JsonDocument.Parse(metadataJson);
        var root = document.RootElement;
        return Conditions.All(c => c.Matches(root.TryGetProperty(c.Key, out var value) ? value : null));
    }
}
