using System.Text.Json;
using System.Text.Json.Serialization;

namespace DialogueDb.Service.Policy;

/// <summary>
/// The project this deployment serves and the hashes of its API keys. Embedded mode keeps it in DATA_DIR/project.json;
/// in Kubernetes the operator writes it into a Secret mounted as a file.
/// </summary>
internal sealed record ProjectDocument(
    [property: JsonPropertyName("projectId")] string ProjectId,
    [property: JsonPropertyName("apiKeys")] IReadOnlyList<ApiKeyRecord> ApiKeys)
{
    private static readonly JsonSerializerOptions FileJson = new() { WriteIndented = true };

    public static ProjectDocument Read(string path)
    {
        ProjectDocument? document;
        try
        {
            document = JsonSerializer.Deserialize<ProjectDocument>(File.ReadAllText(path), FileJson);
        }
        catch (JsonException ex)
        {
            throw new InvalidOperationException($"The project file {path} is not valid JSON (line {ex.LineNumber}).", ex);
        }

        if (document is null || string.IsNullOrWhiteSpace(document.ProjectId) || document.ApiKeys is null)
        {
            throw new InvalidOperationException($"The project file {path} needs a projectId and an apiKeys list.");
        }

        return document;
    }

    public void Write(string path) => Hosting.TlsCertificates.WriteSecret(path, JsonSerializer.Serialize(this, FileJson));
}

internal sealed record ApiKeyRecord(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("scope")] string Scope,
    [property: JsonPropertyName("hash")] string Hash)
{
    public const string ReadWrite = "read-write";
    public const string ReadOnly = "read-only";
}
