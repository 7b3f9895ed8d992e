using DialogueDb.Operator.Provisioning;
using DialogueDb.Operator.Resources;
using k8s;
using k8s.Models;
using static DialogueDb.Operator.Reconciliation.ProjectNaming;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>
/// The finalizer step: a project with <c>deletionPolicy: Delete</c> carries the finalizer, so its database, roles,
/// Redis user and keys are dropped before the object goes; a Retain project carries none.
/// </summary>
internal sealed partial class ProjectFinalizer(
    IKubernetes client, IProjectInfrastructure infrastructure, ProjectConnections connections, ILogger<ProjectFinalizer> logger)
{
    /// <summary>Adds or removes the finalizer to match the deletion policy; returns the project as stored.</summary>
    public async Task<DialogueProject> MatchPolicyAsync(DialogueProject project, CancellationToken cancellationToken)
    {
        var wanted = project.Spec.DeletionPolicy == "Delete";
        var has = project.Metadata.Finalizers?.Contains(Finalizer) == true;
        // Before any outside state exists, so a Delete project can never leave a database behind.
        return wanted == has ? project : await SetAsync(project, wanted, cancellationToken);
    }

    /// <summary>Runs the deletion of a project that is being deleted and still carries the finalizer.</summary>
    public async Task FinalizeAsync(DialogueProject project, ProjectIdentity identity, CancellationToken cancellationToken)
    {
        if (project.Metadata.Finalizers?.Contains(Finalizer) != true)
        {
            return;
        }

        if (project.Spec.DeletionPolicy == "Delete")
        {
            await infrastructure.DropAsync(
                identity, project.Spec.Database?.SecretRef is null, project.Spec.Redis?.SecretRef is null, cancellationToken);
            connections.Forget(identity);
            LogDropped(logger, project.Metadata.NamespaceProperty, project.Metadata.Name);
        }

        // The commit step: once the data is gone, nothing may stop the finalizer's removal.
        await SetAsync(project, add: false, CancellationToken.None);
    }

    /// <summary>Adds or removes the finalizer with a resourceVersion precondition (a merge patch; 409 means try again).</summary>
    private async Task<DialogueProject> SetAsync(DialogueProject project, bool add, CancellationToken cancellationToken)
    {
        var finalizers = (project.Metadata.Finalizers ?? []).Where(f => f != Finalizer).ToList();
        if (add)
        {
            finalizers.Add(Finalizer);
        }

        var patch = new { metadata = new { resourceVersion = project.Metadata.ResourceVersion, finalizers } };
        return await client.CustomObjects.PatchNamespacedCustomObjectAsync<DialogueProject>(
            new V1Patch(patch, V1Patch.PatchType.MergePatch), DialogueProject.Group, DialogueProject.Version,
            project.Metadata.NamespaceProperty, DialogueProject.Plural, project.Metadata.Name, cancellationToken: cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Project {Namespace}/{Name}: database, roles, Redis user and keys dropped (deletionPolicy Delete)")]
    private static partial void LogDropped(ILogger logger, string @namespace, string name);
}
