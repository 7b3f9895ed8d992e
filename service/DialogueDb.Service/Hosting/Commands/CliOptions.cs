using System.CommandLine;

namespace DialogueDb.Service.Hosting.Commands;

/// <summary>
/// The options several commands share, and how a command turns what was given into <see cref="ServiceOptions"/>:
/// an option on the command line wins over its DIALOGUEDB_* environment variable.
/// </summary>
internal sealed class CliOptions
{
    public Option<string?> DataDir { get; } = new("--data-dir")
    {
        Description = "Data folder: embedded database, generated TLS files, dev project (env DIALOGUEDB_DATA_DIR; default ./.dialoguedb)",
    };

    public Option<string?> Urls { get; } = new("--urls")
    {
        Description = "Listen addresses separated by ';' (env DIALOGUEDB_URLS; default https://127.0.0.1:8443)",
    };

    public Option<string?> Postgres { get; } = new("--postgres")
    {
        Description = "Npgsql connection string; runs on PostgreSQL instead of SQLite (env DIALOGUEDB_POSTGRES)",
    };

    /// <summary>
    /// The shared options given on the command line, keyed by their setting names; <paramref name="urls"/> and
    /// <paramref name="postgres"/> say whether the command takes those options at all.
    /// </summary>
    public Dictionary<string, string?> Overrides(ParseResult parse, bool urls = false, bool postgres = false)
    {
        var values = new Dictionary<string, string?>();
        Set(values, "DATA_DIR", parse.GetValue(DataDir));
        Set(values, "URLS", urls ? parse.GetValue(Urls) : null);
        Set(values, "POSTGRES", postgres ? parse.GetValue(Postgres) : null);
        return values;
    }

    /// <summary>Sets <paramref name="key"/> when the option was given; an option left out leaves the environment's value.</summary>
    public static void Set(Dictionary<string, string?> overrides, string key, string? value)
    {
        if (value is not null)
        {
            overrides[key] = value;
        }
    }

    /// <summary>Settings for the commands that run without the web host: command line over DIALOGUEDB_* environment.</summary>
    public static ServiceOptions Bind(Dictionary<string, string?> overrides)
    {
        var configuration = new ConfigurationBuilder()
            .AddEnvironmentVariables(ServiceOptions.EnvironmentPrefix)
            .AddInMemoryCollection(overrides)
            .Build();
        var options = ServiceOptions.From(configuration);
        if (configuration["METRICS_URLS"] is null)
        {
            // Only `serve` has a listener by default; a worker (relay, index) listens where it is told to.
            options.MetricsUrls = null;
        }

        options.Validate();
        return options;
    }
}
