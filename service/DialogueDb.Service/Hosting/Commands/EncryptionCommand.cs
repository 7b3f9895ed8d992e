using System.CommandLine;

namespace DialogueDb.Service.Hosting.Commands;

/// <summary><c>dialoguedb encryption rotate</c>: a new active data key in the content key ring, in one step or two phases.</summary>
internal static class EncryptionCommand
{
    public static Command Create(CliOptions shared)
    {
        var keyFile = new Option<string?>("--file")
        {
            Description = "Key ring file (env DIALOGUEDB_ENCRYPTION_KEYS_FILE; default DATA_DIR/secrets/encryption-keys.json)",
        };
        var addOnly = new Option<bool>("--add-only")
        {
            Description = "Two-phase rotation, first step: add a data key for decryption only and print its id (several replicas)",
        };
        var activate = new Option<string?>("--activate")
        {
            Description = "Two-phase rotation, second step: make this data key (added with --add-only) the active one",
        };
        var rotate = new Command("rotate", "Add a new data key and make it active (or --add-only, then --activate ID); older keys stay for decryption")
        {
            shared.DataDir, keyFile, addOnly, activate,
        };
        rotate.SetAction(parse =>
        {
            var overrides = shared.Overrides(parse);
            CliOptions.Set(overrides, "ENCRYPTION_KEYS_FILE", parse.GetValue(keyFile));
            return KeyRotationCommands.RotateDataKey(CliOptions.Bind(overrides).EncryptionKeysPath,
                new RotationStep(parse.GetValue(addOnly), parse.GetValue(activate)),
                parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
        });
        return new Command("encryption", "Manage the content encryption key ring") { rotate };
    }
}
