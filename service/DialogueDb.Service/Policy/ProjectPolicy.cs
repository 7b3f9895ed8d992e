using DialogueDb.Service.Hosting;

namespace DialogueDb.Service.Policy;

/// <summary>
/// The project policy in force: from the project file (embedded mode, or a mounted Secret) or read and watched through
/// the Kubernetes API (<see cref="KubernetesPolicySource"/>). Either way a change applies within about a second, and a
/// malformed change is logged and ignored (the last good policy stays in force).
/// </summary>
internal sealed class ProjectPolicy(Func<ProjectDocument> current)
{
    private volatile Resolved? _resolved;

    public ProjectDocument Current => current();

    /// <summary>The numbers in force, resolved once per version of the document (this is read on every request).</summary>
    public EffectivePolicy Effective
    {
        get
        {
            var document = current();
            var resolved = _resolved;
            if (resolved is null || !ReferenceEquals(resolved.Document, document))
            {
                resolved = new Resolved(document, document.Effective);
                _resolved = resolved;
            }

            return resolved.Policy;
        }
    }

    private sealed record Resolved(ProjectDocument Document, EffectivePolicy Policy);

    /// <summary>The project id is fixed for the life of the process (it is part of every ciphertext's associated data).</summary>
    public static ProjectDocument SameProject(ProjectDocument document, string projectId, string source) =>
        document.ProjectId == projectId
            ? document
            : throw new InvalidOperationException($"The project policy from {source} changed its projectId; that needs a new deployment.");

    public static ProjectPolicy FromFile(ReloadingFiles<ProjectDocument> file) => new(() => file.Current);
}
