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
        var rotateKey = new Command("rotate-key",
            "Add a new event key and make it active; older keys stay so consumers can open older events")
        {
            shared.DataDir, eventKeyFile,
        };
        rotateKey.SetAction(parse =>
        {
            var overrides = shared.Overrides(parse);
            CliOptions.Set(overrides, "EVENTS_KEY_FILE", parse.GetValue(eventKeyFile));
            return RotateEventKey(CliOptions.Bind(overrides), parse.InvocationConfiguration.Output);
        });

        return new Command("events", "Audit events") { tail, rotateKey };
    }

    private static int RotateEventKey(ServiceOptions options, TextWriter output)
    {
        var path = options.EventsKeyPath;
        var ring = File.Exists(path)
            ? EventKeyRing.Parse(File.ReadAllText(path), path).Rotate(TimeProvider.System)
            : EventKeyRing.New(TimeProvider.System);
        TlsCertificates.WriteSecret(path, ring.ToJson());
        output.WriteLine($"Event key {ring.ActiveKeyId} is active in {path}; events published from now on are sealed with it.");
        return 0;
    }
}
