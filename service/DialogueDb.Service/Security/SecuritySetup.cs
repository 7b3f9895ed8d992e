using DialogueDb.Service.Hosting;
using DialogueDb.Service.Policy;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.DataProtection;

namespace DialogueDb.Service.Security;

internal static class SecuritySetup
{
    /// <summary>
    /// API keys (from the project file, followed live), content encryption (key ring from the environment, or a key
    /// file followed live) and bearer authentication. Everything is read once here so a missing or malformed file stops
    /// the process at start with a message naming it.
    /// </summary>
    public static IServiceCollection AddDialogueSecurity(this IServiceCollection services, ServiceOptions options)
    {
        var hasher = new ApiKeyHasher(DevProject.LoadOrCreateHashSecret(options.ApiKeyHashSecretPath));
        var projectPath = options.ProjectFilePath;
        var projectId = ProjectDocument.Read(projectPath).ProjectId;
        var ringAtStart = EncryptionKeySource.Load(options);

        services.AddSingleton(sp => new ReloadingFiles<ProjectDocument>("project file", [projectPath], contents =>
            {
                var document = ProjectDocument.Parse(contents[0], projectPath);
                return document.ProjectId == projectId
                    ? document
                    : throw new InvalidOperationException($"The project file {projectPath} changed its projectId; that needs a new deployment.");
            },
            sp.GetRequiredService<TimeProvider>(), Logger(sp)));
        services.AddSingleton(sp =>
        {
            var project = sp.GetRequiredService<ReloadingFiles<ProjectDocument>>();
            return new ApiKeyRing(() => project.Current, hasher);
        });

        if (!string.IsNullOrWhiteSpace(options.EncryptionKeys))
        {
            services.AddSingleton(new ContentProtector(ringAtStart, projectId));
        }
        else
        {
            var ringPath = options.EncryptionKeysPath;
            services.AddSingleton(sp => new ReloadingFiles<EncryptionKeyRing>("encryption key ring", [ringPath],
                contents => EncryptionKeyRing.Parse(contents[0], ringPath), sp.GetRequiredService<TimeProvider>(), Logger(sp)));
            services.AddSingleton(sp =>
            {
                var ring = sp.GetRequiredService<ReloadingFiles<EncryptionKeyRing>>();
                return new ContentProtector(() => ring.Current, projectId);
            });
        }

        // Nothing here protects data with ASP.NET Data Protection; ephemeral keys keep it from writing a key ring to disk
        // (the container's root filesystem is read-only).
        services.AddDataProtection().UseEphemeralDataProtectionProvider();
        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        services.AddAuthorizationBuilder()
            .AddPolicy(ApiKeyAuthenticationHandler.WritePolicy, policy => policy.RequireAuthenticatedUser()
                .RequireClaim(ApiKeyAuthenticationHandler.ScopeClaim, ApiKeyRecord.ReadWrite));
        return services;
    }

    private static ILogger Logger(IServiceProvider services) =>
        services.GetRequiredService<ILoggerFactory>().CreateLogger("DialogueDb.Security");
}
