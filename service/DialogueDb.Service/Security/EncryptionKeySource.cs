using DialogueDb.Service.Hosting;

namespace DialogueDb.Service.Security;

/// <summary>Where the key ring comes from: ENCRYPTION_KEYS (JSON), else ENCRYPTION_KEYS_FILE, else (embedded only) a generated file.</summary>
internal static class EncryptionKeySource
{
    public static EncryptionKeyRing Load(ServiceOptions options)
    {
        if (!string.IsNullOrWhiteSpace(options.EncryptionKeys))
        {
            return EncryptionKeyRing.Parse(options.EncryptionKeys, $"{ServiceOptions.EnvironmentPrefix}ENCRYPTION_KEYS");
        }

        var path = options.EncryptionKeysPath;
        if (File.Exists(path))
        {
            return EncryptionKeyRing.Parse(File.ReadAllText(path), path);
        }

        if (options.EncryptionKeysFile is not null || options.UsesPostgres)
        {
            // A server never invents a key on its own: a pod that did would write data no other replica can read.
            throw new InvalidOperationException(
                $"No encryption key ring: {path} does not exist. Set {ServiceOptions.EnvironmentPrefix}ENCRYPTION_KEYS or " +
                $"{ServiceOptions.EnvironmentPrefix}ENCRYPTION_KEYS_FILE (create one with `dialoguedb encryption rotate --file <path>`).");
        }

        var ring = EncryptionKeyRing.NewRing();
        TlsCertificates.WriteSecret(path, ring.ToJson());
        return ring;
    }
}
