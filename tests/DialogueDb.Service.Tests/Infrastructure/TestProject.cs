using DialogueDb.Service.Hosting;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Security;

namespace DialogueDb.Service.Tests.Infrastructure;

/// <summary>Writes a project document with one read-write and one read-only key into a data folder, as the operator would.</summary>
internal static class TestProject
{
    /// <summary>
    /// The project is on the enterprise plan with no limits unless <paramref name="customize"/> says otherwise, so
    /// suites that are not about limits never hit one.
    /// </summary>
    public static (string ReadWrite, string ReadOnly) Write(string dataDir, string projectId,
        Func<ProjectDocument, ProjectDocument>? customize = null)
    {
        var options = new ServiceOptions { DataDir = dataDir };
        var hasher = new ApiKeyHasher(DevProject.LoadOrCreateHashSecret(options.ApiKeyHashSecretPath));
        var (rwId, rw) = ApiKeyHasher.NewKey();
        var (roId, ro) = ApiKeyHasher.NewKey();
        var document = new ProjectDocument(projectId,
        [
            new ApiKeyRecord(rwId, "tests-rw", ApiKeyRecord.ReadWrite, hasher.Hash(rw)),
            new ApiKeyRecord(roId, "tests-ro", ApiKeyRecord.ReadOnly, hasher.Hash(ro)),
        ]) { Plan = PlanCatalog.Enterprise };
        (customize?.Invoke(document) ?? document).Write(options.ProjectFilePath);
        return (rw, ro);
    }

    /// <summary>Writes a fresh event key into DATA_DIR/secrets (as the operator's events-key Secret) and returns its path.</summary>
    public static string WriteEventKey(string dataDir)
    {
        var path = new ServiceOptions { DataDir = dataDir }.EventsKeyPath;
        if (!File.Exists(path))
        {
            TlsCertificates.WriteSecret(path, DialogueDb.Service.Audit.EventKeyRing.New(TimeProvider.System).ToJson());
        }

        return path;
    }

    /// <summary>Writes a fresh key ring into DATA_DIR/secrets and returns its path.</summary>
    public static string WriteEncryptionKeys(string dataDir)
    {
        var path = new ServiceOptions { DataDir = dataDir }.EncryptionKeysPath;
        if (!File.Exists(path))
        {
            TlsCertificates.WriteSecret(path, EncryptionKeyRing.NewRing().ToJson());
        }

        return path;
    }
}
