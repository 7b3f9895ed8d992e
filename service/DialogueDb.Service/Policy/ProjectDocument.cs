using System.Text.Json;
using System.Text.Json.Serialization;

namespace DialogueDb.Service.Policy;

/// <summary>
/// The project's policy: which project this deployment serves, its plan with any per-project overrides of the limits
/// and retention periods, and the hashes of its API keys. Embedded mode keeps it in DATA_DIR/project.json; in
/// Kubernetes the operator writes it into a Secret. A change takes effect without a restart.
/// </summary>
internal sealed record ProjectDocument(
    [property: JsonPropertyName("projectId")] string ProjectId,
    [property: JsonPropertyName("apiKeys")] IReadOnlyList<ApiKeyRecord> ApiKeys)
{
    private static readonly JsonSerializerOptions FileJson = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>A plan of <see cref="PlanCatalog"/>; a document without one is on the free plan.</summary>
    [JsonPropertyName("plan")]
    public string Plan { get; init; } = PlanCatalog.Free;

    /// <summary>
    /// True when <see cref="Limits"/> and <see cref="Retention"/> give every number in force (the operator writes the
    /// numbers of its own plan catalog this way): an absent limit is then unlimited, and <see cref="Plan"/> is a name
    /// that need not be one of the built-in plans.
    /// </summary>
    [JsonPropertyName("complete")]
    public bool Complete { get; init; }

    /// <summary>Per-project overrides of the plan's limits (absent: the plan's number).</summary>
    [JsonPropertyName("limits")]
    public LimitOverrides? Limits { get; init; }

    /// <summary>Per-project overrides of the plan's retention periods.</summary>
    [JsonPropertyName("retention")]
    public RetentionOverrides? Retention { get; init; }

    /// <summary>How summaries are written (absent: the offline extractive provider).</summary>
    [JsonPropertyName("summaries")]
    public SummarySettings? Summaries { get; init; }

    /// <summary>The numbers in force: the plan's, overridden by this document's.</summary>
    [JsonIgnore]
    public EffectivePolicy Effective => PlanCatalog.Resolve(this);

    public static ProjectDocument Read(string path) => Parse(File.ReadAllText(path), path);

    /// <summary>Parses and validates the document; errors name the source and the problem, never a value.</summary>
    public static ProjectDocument Parse(string json, string source)
    {
        ProjectDocument? document;
        try
        {
            document = JsonSerializer.Deserialize<ProjectDocument>(json, FileJson);
        }
        catch (JsonException ex)
        {
            throw new InvalidOperationException($"The project file {source} is not valid JSON (line {ex.LineNumber}).", ex);
        }

        if (document is null || string.IsNullOrWhiteSpace(document.ProjectId) || document.ApiKeys is null)
        {
            throw new InvalidOperationException($"The project file {source} needs a projectId and an apiKeys list.");
        }

        if (document.Complete ? string.IsNullOrWhiteSpace(document.Plan) : !PlanCatalog.IsKnown(document.Plan))
        {
            throw new InvalidOperationException(
                $"The project file {source} names an unknown plan; use one of {string.Join(", ", PlanCatalog.Names)}.");
        }

        if (document.Limits?.HasNegative() == true || document.Retention?.HasNegative() == true)
        {
            throw new InvalidOperationException($"The project file {source} has a negative limit or retention period.");
        }

        if (document.Summaries?.Problem() is { } summaries)
        {
            throw new InvalidOperationException($"The project file {source}: {summaries}.");
        }

        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var key in document.ApiKeys)
        {
            if (key is null || string.IsNullOrEmpty(key.Id) || string.IsNullOrEmpty(key.Hash) || !ids.Add(key.Id)
                || key.Scope is not (ApiKeyRecord.ReadWrite or ApiKeyRecord.ReadOnly))
            {
                throw new InvalidOperationException(
                    $"The project file {source} has an API key entry without a unique id, a hash, or a scope of read-write|read-only.");
            }
        }

        return document;
    }

    public string ToJson() => JsonSerializer.Serialize(this, FileJson);

    /// <summary>Writes atomically (temporary file, then rename), so a reader never sees half a document.</summary>
    public void Write(string path)
    {
        var temporary = path + ".tmp";
        Hosting.TlsCertificates.WriteSecret(temporary, ToJson());
        File.Move(temporary, path, overwrite: true);
    }
}
