using DialogueDb.Operator.Kubernetes;
using DialogueDb.Operator.Provisioning;
using DialogueDb.Operator.Reconciliation;
using k8s;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace DialogueDb.Operator.Hosting;

/// <summary>
/// The operator's registration: the controller, the reconciler and its steps, sharing one child cache. Tests use the
/// same registration; a TimeProvider or an <see cref="IProjectInfrastructure"/> registered before it wins.
/// </summary>
internal static class OperatorServices
{
    public static IServiceCollection AddOperator(this IServiceCollection services, OperatorOptions options, IKubernetes client)
    {
        services.AddSingleton(options);
        services.AddSingleton(client);
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.AddSingleton<OperatorMetrics>();
        services.TryAddSingleton<IProjectInfrastructure, SharedInfrastructure>();
        services.AddSingleton(_ => new ObjectApplier(client, ProjectNaming.FieldManager));
        services.AddSingleton<EventRecorder>();
        services.AddSingleton<ChildCache>();
        services.AddSingleton<OwnSecrets>();
        services.AddSingleton<SpecCheck>();
        services.AddSingleton<ProjectFinalizer>();
        services.AddSingleton<KeyRingRotation>();
        services.AddSingleton<GeneratedSecrets>();
        services.AddSingleton<ProjectConnections>();
        services.AddSingleton<ApiKeyIssuer>();
        services.AddSingleton<SearchWorkers>();
        services.AddSingleton<ProjectStatusWriter>();
        services.AddSingleton<ProjectReconciler>();
        services.AddSingleton<Usage.ProjectUsageCollector>();
        services.AddSingleton<ProjectController>();
        services.AddSingleton<ControllerState>();
        return services;
    }
}
