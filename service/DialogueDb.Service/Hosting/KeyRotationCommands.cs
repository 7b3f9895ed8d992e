using DialogueDb.Service.Audit;
using DialogueDb.Service.Security;

namespace DialogueDb.Service.Hosting;

/// <summary>Which step of a key rotation a command takes: both at once, or one of the two phases.</summary>
/// <param name="AddOnly">The first phase: a new key readers can use, writers not yet.</param>
/// <param name="Activate">The second phase: this key (added before) becomes the one writers use.</param>
internal sealed record RotationStep(bool AddOnly, string? Activate)
{
    /// <summary>Null when the step is valid, else why not (the two phases exclude each other).</summary>
    public string? Problem => AddOnly && Activate is not null ? "--add-only and --activate exclude each other: give one." : null;
}

/// <summary>
/// <c>dialoguedb encryption rotate</c> and <c>dialoguedb events rotate-key</c> on a key file. Without options a rotation
/// is one step (the new key is active at once): right when every reader of the file is this process or reads the
/// same file on its next use. Where readers hold copies (replicas with their own Secret volume, event consumers) the
/// rotation takes the operator's two phases: <c>--add-only</c> adds the key for readers only and prints its id, and
/// <c>--activate ID</c>, once every reader has the new file, makes it the key writers use. Each write replaces the
/// file in one rename, so a reader never sees half a ring.
/// </summary>
internal static class KeyRotationCommands
{
    public static int RotateDataKey(string path, RotationStep step, TextWriter output, TextWriter error)
    {
        if (step.Problem is { } problem)
        {
            error.WriteLine(problem);
            return 2;
        }

        if (!File.Exists(path))
        {
            if (step.Activate is not null)
            {
                error.WriteLine($"{path} does not exist: there is no key {step.Activate} to activate.");
                return 1;
            }

            var created = EncryptionKeyRing.NewRing();
            Replace(path, created.ToJson());
            output.WriteLine($"{path}: created a key ring with data key {created.ActiveId}.");
            return 0;
        }

        var ring = EncryptionKeyRing.Parse(File.ReadAllText(path), path);
        if (step.AddOnly)
        {
            ring = ring.WithDecryptOnlyKey(out var id);
            Replace(path, ring.ToJson());
            output.WriteLine($"{path}: data key {id} added for decryption only; data key {ring.ActiveId} stays active. Once every replica " +
                $"has read this file, run `dialoguedb encryption rotate --activate {id}`.");
            return 0;
        }

        if (step.Activate is { } wanted)
        {
            if (!uint.TryParse(wanted, System.Globalization.CultureInfo.InvariantCulture, out var id) || !ring.KeyIds.Contains(id))
            {
                error.WriteLine($"{path} has no data key {wanted} (keys {string.Join(", ", ring.KeyIds.Order())}).");
                return 1;
            }

            ring = ring.Activate(id);
        }
        else
        {
            ring = ring.Rotate();
        }

        Replace(path, ring.ToJson());
        output.WriteLine($"{path}: data key {ring.ActiveId} is now active (keys {string.Join(", ", ring.KeyIds.Order())}). " +
            "Run `dialoguedb reencrypt` to move existing rows to it.");
        return 0;
    }

    public static int RotateEventKey(string path, RotationStep step, TimeProvider time, TextWriter output, TextWriter error)
    {
        if (step.Problem is { } problem)
        {
            error.WriteLine(problem);
            return 2;
        }

        if (!File.Exists(path))
        {
            if (step.Activate is not null)
            {
                error.WriteLine($"{path} does not exist: there is no event key {step.Activate} to activate.");
                return 1;
            }

            var created = EventKeyRing.New(time);
            Replace(path, created.ToJson());
            output.WriteLine($"Event key {created.ActiveKeyId} is active in {path} (a new file).");
            return 0;
        }

        var ring = EventKeyRing.Parse(File.ReadAllText(path), path);
        if (step.AddOnly)
        {
            ring = ring.WithOpenOnlyKey(time, out var id);
            Replace(path, ring.ToJson());
            output.WriteLine($"Event key {id} added to {path} for opening only; events are still sealed with {ring.ActiveKeyId}. Once " +
                $"every consumer and every replica has read this file, run `dialoguedb events rotate-key --activate {id}`.");
            return 0;
        }

        if (step.Activate is { } wanted)
        {
            if (!ring.KeyIds.Contains(wanted))
            {
                error.WriteLine($"{path} has no event key {wanted}.");
                return 1;
            }

            ring = ring.Activate(wanted);
        }
        else
        {
            ring = ring.Rotate(time);
        }

        Replace(path, ring.ToJson());
        output.WriteLine($"Event key {ring.ActiveKeyId} is active in {path}; events published from now on are sealed with it.");
        return 0;
    }

    private static void Replace(string path, string contents)
    {
        var temporary = path + ".tmp";
        TlsCertificates.WriteSecret(temporary, contents);
        File.Move(temporary, path, overwrite: true);
    }
}
