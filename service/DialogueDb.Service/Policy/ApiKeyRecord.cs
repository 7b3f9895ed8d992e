using System.Text.Json;
using System.Text.Json.Serialization;

namespace DialogueDb.Service.Policy;

internal sealed record ApiKeyRecord(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("scope")] string Scope,
    [property: JsonPropertyName("hash")] string Hash)
{
    public const string ReadWrite = "read-write";
    public const string ReadOnly = "read-only";
}
