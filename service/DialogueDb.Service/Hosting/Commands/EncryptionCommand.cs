using System.CommandLine;
using DialogueDb.Service.Security;

namespace DialogueDb.Service.Hosting.Commands;

/// <summary><c>dialoguedb encryption rotate</c>: a new active data key in the content key ring.</summary>
internal static class EncryptionCommand
{
    public static Command Create(CliOptions shared)
    {
        var keyFile = new Option<string?>("--file")
        {
            Description = "Key ring file (env DIALOGUEDB_ENCRYPTION_KEYS_FILE; default DATA_DIR/secrets/encryption-keys.json)",
        };
        var rotate = new Command("rotate", "Add a new data key and make it active; older keys stay for decryption")
        {
            shared.DataDir, keyFile,
        };
        rotate.SetAction(parse =>
        {
            var overrides = shared.Overrides(parse);
            CliOptions.Set(overrides, "ENCRYPTION_KEYS_FILE", parse.GetValue(keyFile));
            return RotateEncryptionKey(CliOptions.Bind(overrides), parse.InvocationConfiguration.Output);
        });
        return new Command("encryption", "Manage the content encryption key ring") { rotate };
    }

    private static int RotateEncryptionKey(ServiceOptions options, TextWriter output)
    {
        var path = options.EncryptionKeysPath;
        var existed = File.Exists(path);
        var ring = existed ? EncryptionKeyRing.Parse(File.ReadAllText(path), path).Rotate() : EncryptionKeyRing.NewRing();
        var temporary = path + ".tmp";
        TlsCertificates.WriteSecret(temporary, ring.ToJson());
        File.Move(temporary, path, overwrite: true);
        output.WriteLine(existed
            ? $"{path}: data key {ring.ActiveId} is now active (keys {string.Join(", ", ring.KeyIds.Order())}). " +
              "Run `dialoguedb reencrypt` to move existing rows to it."
            : $"{path}: created a key ring with data key {ring.ActiveId}.");
        return 0;
    }
}
