using DialogueDb.Service.Hosting;
using DialogueDb.Service.Security;

namespace DialogueDb.Service.Policy;

/// <summary>
/// First start without a project file: creates a development project with one read-write key, prints the key once
/// and writes it to DATA_DIR/dev-api-key for scripts. Only the key's hash is kept in the project file.
/// </summary>
internal static class DevProject
{
    public static string? EnsureCreated(ServiceOptions options)
    {
        var hashSecret = LoadOrCreateHashSecret(options.ApiKeyHashSecretPath);
        if (File.Exists(options.ProjectFilePath))
        {
            return null;
        }

        if (options.ProjectFile is not null)
        {
            throw new InvalidOperationException(
                $"The project file {options.ProjectFilePath} ({ServiceOptions.EnvironmentPrefix}PROJECT_FILE) does not exist.");
        }

        var (keyId, key) = ApiKeyHasher.NewKey();
        var hasher = new ApiKeyHasher(hashSecret);
        new ProjectDocument("dev", [new ApiKeyRecord(keyId, "dev", ApiKeyRecord.ReadWrite, hasher.Hash(key))]) { Plan = PlanCatalog.Pro }
            .Write(options.ProjectFilePath);
        TlsCertificates.WriteSecret(Path.Combine(options.FullDataDir, "dev-api-key"), key + "\n");
        return key;
    }

    public static byte[] LoadOrCreateHashSecret(string path)
    {
        if (File.Exists(path))
        {
            var secret = Convert.FromBase64String(File.ReadAllText(path).Trim());
            if (secret.Length < 32)
            {
                throw new InvalidOperationException($"The API key hash secret in {path} must be at least 32 bytes (base64).");
            }

            return secret;
        }

        var created = ApiKeyHasher.NewHashSecret();
        TlsCertificates.WriteSecret(path, Convert.ToBase64String(created) + "\n");
        return created;
    }
}
