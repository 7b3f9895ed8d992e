using DialogueDb.Service.Hosting;

namespace DialogueDb.Service.Redis;

/// <summary>
/// The project's Redis keys, all under its prefix (e.g. <c>ddb:{project}:rate</c>). The braces are a Redis Cluster hash
/// tag, so every key of a project lives on one slot; the operator gives each project the same default.
/// </summary>
internal sealed class RedisKeys(string prefix)
{
    public string Prefix { get; } = prefix;

    /// <summary>The rate limiter's counters.</summary>
    public string Rate => Prefix + "rate";

    /// <summary>The audit event stream the relay publishes to and <c>dialoguedb events tail</c> follows.</summary>
    public string Events => Prefix + "events";

    /// <summary>The keys of <paramref name="projectId"/> under the configured prefix, else the default one.</summary>
    public static RedisKeys For(ServiceOptions options, string projectId) => new(options.RedisKeyPrefix ?? DefaultPrefix(projectId));

    public static string DefaultPrefix(string projectId) => $"ddb:{{{projectId}}}:";
}
