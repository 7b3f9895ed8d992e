using DialogueDb.Service.Hosting;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Service.Tests.Hosting;

/// <summary>A misconfigured server stops at start with a message naming what is wrong (and never a secret).</summary>
public sealed class StartupErrorTests
{
    [Fact]
    public void PostgresMode_NoEncryptionKeyRing_RefusesToStartNamingTheSettings()
    {
        using var dataDir = new TestFolder();
        TestProject.Write(dataDir.Path, "no-keys");

        var ex = Assert.Throws<InvalidOperationException>(() => ApiHost.CreateBuilder([], new ServiceOptions
        {
            DataDir = dataDir.Path,
            Urls = "https://127.0.0.1:0",
            Postgres = "Host=127.0.0.1;Database=unused",
        }));

        Assert.Contains("DIALOGUEDB_ENCRYPTION_KEYS", ex.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(dataDir.Path, "secrets", "encryption-keys.json")), "a server must not invent a key");
    }

    [Fact]
    public void ConfiguredKeyRingFile_Missing_RefusesToStart()
    {
        using var dataDir = new TestFolder();
        TestProject.Write(dataDir.Path, "no-keys");
        var missing = Path.Combine(dataDir.Path, "mounted", "keys.json");

        var ex = Assert.Throws<InvalidOperationException>(() => ApiHost.CreateBuilder([], new ServiceOptions
        {
            DataDir = dataDir.Path,
            Urls = "https://127.0.0.1:0",
            EncryptionKeysFile = missing,
        }));

        Assert.Contains(missing, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void KeyRingFromEnvironment_ActiveKeyMissing_RefusesToStartWithoutEchoingKeys()
    {
        using var dataDir = new TestFolder();
        TestProject.Write(dataDir.Path, "bad-ring");
        const string material = "c2VjcmV0LWtleS1tYXRlcmlhbC0zMi1ieXRlcyEhISE=";

        var ex = Assert.Throws<InvalidOperationException>(() => ApiHost.CreateBuilder([], new ServiceOptions
        {
            DataDir = dataDir.Path,
            Urls = "https://127.0.0.1:0",
            EncryptionKeys = $$"""{"active":7,"keys":[{"id":1,"key":"{{material}}"}]}""",
        }));

        Assert.Contains("active encryption key 7", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(material, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ProjectFile_Configured_ButMissing_RefusesToStart()
    {
        using var dataDir = new TestFolder();
        var missing = Path.Combine(dataDir.Path, "policy", "project.json");

        var ex = Assert.Throws<InvalidOperationException>(() => ApiHost.CreateBuilder([], new ServiceOptions
        {
            DataDir = dataDir.Path,
            Urls = "https://127.0.0.1:0",
            ProjectFile = missing,
        }));

        Assert.Contains(missing, ex.Message, StringComparison.Ordinal);
    }
}
