using DialogueDb.Service.Hosting;
using DialogueDb.Service.Policy;
using Microsoft.AspNetCore.DataProtection;
using k8s;

namespace DialogueDb.Service.Security;

internal static class SecuritySetup
{
    /// <summary>
    /// API keys (from the project file, followed live), content encryption (key ring from the environment, or a key
    /// file followed live) and bearer authentication. Everything is read once here so a missing or malformed file stops
    /// the process at start with a message naming it.
    /// </summary>
    public static IServiceCollection AddDialogueSecurity(this IServiceCollection services, ServiceOptions options,
        IKubernetes? kubernetes = null)
    {
        var hasher = new ApiKeyHasher(DevProject.LoadOrCreateHashSecret(options.ApiKeyHashSecretPath));
        var ringAtStart = EncryptionKeySource.Load(options);
        string projectId;
        if (options.PolicySecret is not null)
        {
            var (ns, name) = options.PolicySecretReference();
            var client = kubernetes ?? new Kubernetes(KubernetesClientConfiguration.BuildDefaultConfig());
            var source = KubernetesPolicySource.Open(client, ns, name, options.PolicySecretKey,
                Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
            projectId = source.Current.ProjectId;
            services.AddSingleton(sp => new KubernetesPolicySource(source, Logger(sp), sp.GetService<Telemetry.ServiceMetrics>()));
            services.AddSupervisedService("policy watch", sp => sp.GetRequiredService<KubernetesPolicySource>());
            services.AddSingleton(sp =>
            {
                var watched = sp.GetRequiredService<KubernetesPolicySource>();
                return new ProjectPolicy(() => watched.Current);
            });
        }
        else
        {
            var projectPath = options.ProjectFilePath;
            projectId = ProjectDocument.Read(projectPath).ProjectId;
            services.AddSingleton(sp => new ReloadingFiles<ProjectDocument>("project file", [projectPath],
                contents => ProjectPolicy.SameProject(ProjectDocument.Parse(contents[0], projectPath), projectId, projectPath),
                sp.GetRequiredService<TimeProvider>(), Logger(sp), metrics: sp.GetService<Telemetry.ServiceMetrics>()));
            services.AddSingleton(sp => ProjectPolicy.FromFile(sp.GetRequiredService<ReloadingFiles<ProjectDocument>>()));
        }

        services.AddSingleton(sp =>
        {
            var policy = sp.GetRequiredService<ProjectPolicy>();
            return new ApiKeyRing(() => policy.Current, hasher);
        });

        if (!string.IsNullOrWhiteSpace(options.EncryptionKeys))
        {
            services.AddSingleton(new ContentProtector(ringAtStart, projectId));
        }
        else
        {
            var ringPath = options.EncryptionKeysPath;
            services.AddSingleton(sp => new ReloadingFiles<EncryptionKeyRing>("encryption key ring", [ringPath],
                contents => EncryptionKeyRing.Parse(contents[0], ringPath), sp.GetRequiredService<TimeProvider>(), Logger(sp),
                metrics: sp.GetService<Telemetry.ServiceMetrics>()));
            services.AddSingleton(sp =>
            {
                var ring = sp.GetRequiredService<ReloadingFiles<EncryptionKeyRing>>();
                return new ContentProtector(() => ring.Current, projectId, ring.Poll);
            });
        }

        // Nothing here protects data with ASP.NET Data Protection; ephemeral keys keep it from writing a key ring to disk
        // (the container's root filesystem is read-only).
        services.AddDataProtection().UseEphemeralDataProtectionProvider();
        services.AddSingleton(sp => new FailedAuthentications(options.AuthFailuresPerMinute, sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<FailedAuthentications>>(), sp.GetService<Telemetry.ServiceMetrics>()));
        services.AddSingleton<ApiKeyGate>();
        return services;
    }

    /// <summary>The project id alone, for a job that encrypts but does not serve: from the policy Secret or the project file.</summary>
    public static string ProjectIdOf(ServiceOptions options)
    {
        if (options.PolicySecret is null)
        {
            return ProjectDocument.Read(options.ProjectFilePath).ProjectId;
        }

        var (ns, name) = options.PolicySecretReference();
        using var client = new Kubernetes(KubernetesClientConfiguration.BuildDefaultConfig());
        using var source = KubernetesPolicySource.Open(client, ns, name, options.PolicySecretKey,
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        return source.Current.ProjectId;
    }

    private static ILogger Logger(IServiceProvider services) =>
        services.GetRequiredService<ILoggerFactory>().CreateLogger("DialogueDb.Security");
}
