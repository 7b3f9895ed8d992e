using System.CommandLine;
using DialogueDb.Service.Audit;

namespace DialogueDb.Service.Hosting.Commands;

/// <summary><c>dialoguedb events tail|rotate-key</c>: follow the audit events, and rotate the key that seals them.</summary>
internal static class EventsCommand
{
    public static Command Create(CliOptions shared)
    {
        var tail = new Command("tail",
            "Print audit events as they arrive (from the Redis stream, or the embedded events file), items opened with the event key")
        {
            shared.DataDir,
        };
        tail.SetAction((parse, ct) => EventsTail.FollowAsync(CliOptions.Bind(shared.Overrides(parse)), parse.InvocationConfiguration, ct));

        var eventKeyFile = new Option<string?>("--file")
        {
            Description = "Event key file (env DIALOGUEDB_EVENTS_KEY_FILE; default DATA_DIR/secrets/events-key.json)",
        };
        var addOnly = new Option<bool>("--add-only")
        {
            Description = "Two-phase rotation, first step: add an event key consumers can open with, not yet sealing; print its id",
        };
        var activate = new Option<string?>("--activate")
        {
            Description = "Two-phase rotation, second step: seal new events with this key (added with --add-only)",
        };
        var rotateKey = new Command("rotate-key",
            "Add a new event key and make it active (or --add-only, then --activate ID); older keys stay so consumers can open older events")
        {
            shared.DataDir, eventKeyFile, addOnly, activate,
        };
        rotateKey.SetAction(parse =>
        {
            var overrides = shared.Overrides(parse);
            CliOptions.Set(overrides, "EVENTS_KEY_FILE", parse.GetValue(eventKeyFile));
            return KeyRotationCommands.RotateEventKey(CliOptions.Bind(overrides).EventsKeyPath,
                new RotationStep(parse.GetValue(addOnly), parse.GetValue(activate)), TimeProvider.System,
                parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
        });

        return new Command("events", "Audit events") { tail, rotateKey };
    }
}
