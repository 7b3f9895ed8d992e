using System.Globalization;

namespace DialogueDb.LoadGen;

/// <summary>Command-line settings of one load run. Every option is <c>--name value</c>.</summary>
internal sealed class LoadOptions
{
    public string Scenario { get; private set; } = "relay";

    public Uri BaseUrl { get; private set; } = new("https://127.0.0.1:8443");

    public string ApiKey { get; private set; } = "";

    /// <summary>PEM of the CA that signed the service's certificate; without it only a loopback server is accepted unverified.</summary>
    public string? CaFile { get; private set; }

    /// <summary>Appends per second over all writers; 0 = closed loop (each writer sends its next append as soon as one returns).</summary>
    public double Rate { get; private set; }

    public int Concurrency { get; private set; } = 16;

    public TimeSpan Duration { get; private set; } = TimeSpan.FromSeconds(30);

    public TimeSpan Warmup { get; private set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long to wait after the last append for its event before counting it missing.</summary>
    public TimeSpan DrainTimeout { get; private set; } = TimeSpan.FromSeconds(15);

    public string? Redis { get; private set; }

    public string Stream { get; private set; } = "ddb:{dev}:events";

    public string? Namespace { get; private set; }

    public int ContentBytes { get; private set; } = 200;

    /// <summary>A tab-separated results file; one line per run is appended (a header first when the file is new).</summary>
    public string? ResultFile { get; private set; }

    public string Label { get; private set; } = "";

    /// <summary>Messages per request of the batch and seed scenarios (the contract allows up to 100).</summary>
    public int Batch { get; private set; } = 50;

    /// <summary>The page size of the list scenario.</summary>
    public int Limit { get; private set; } = 50;

    /// <summary>The dialogue the list and read scenarios request (list requires it; read creates one without it).</summary>
    public string? Dialogue { get; private set; }

    /// <summary>Messages the seed scenario appends to a new dialogue (whose id it prints).</summary>
    public int SeedMessages { get; private set; } = 100;

    public static readonly string[] Scenarios = ["relay", "appends", "batch", "list", "read", "noop", "seed"];

    public static LoadOptions Parse(IReadOnlyList<string> args)
    {
        var options = new LoadOptions();
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            if (name is "-h" or "--help")
            {
                throw new ArgumentException(Usage);
            }

            if (i + 1 >= args.Count)
            {
                throw new ArgumentException($"{name} needs a value.\n{Usage}");
            }

            var value = args[++i];
            switch (name)
            {
                case "--scenario":
                    options.Scenario = Scenarios.Contains(value) ? value : throw new ArgumentException("--scenario must be one of " + string.Join(", ", Scenarios));
                    break;
                case "--url":
                    options.BaseUrl = new Uri(value.EndsWith('/') ? value : value + "/");
                    break;
                case "--key":
                    options.ApiKey = value;
                    break;
                case "--key-file":
                    options.ApiKey = File.ReadAllText(value).Trim();
                    break;
                case "--ca":
                    options.CaFile = value;
                    break;
                case "--rate":
                    options.Rate = double.Parse(value, CultureInfo.InvariantCulture);
                    break;
                case "--concurrency":
                    options.Concurrency = int.Parse(value, CultureInfo.InvariantCulture);
                    break;
                case "--duration":
                    options.Duration = ParseDuration(value);
                    break;
                case "--warmup":
                    options.Warmup = ParseDuration(value);
                    break;
                case "--drain-timeout":
                    options.DrainTimeout = ParseDuration(value);
                    break;
                case "--redis":
                    options.Redis = value;
                    break;
                case "--stream":
                    options.Stream = value;
                    break;
                case "--namespace":
                    options.Namespace = value;
                    break;
                case "--content-bytes":
                    options.ContentBytes = int.Parse(value, CultureInfo.InvariantCulture);
                    break;
                case "--result-file":
                    options.ResultFile = value;
                    break;
                case "--label":
                    options.Label = value;
                    break;
                case "--batch":
                    options.Batch = int.Parse(value, CultureInfo.InvariantCulture);
                    break;
                case "--limit":
                    options.Limit = int.Parse(value, CultureInfo.InvariantCulture);
                    break;
                case "--dialogue":
                    options.Dialogue = value;
                    break;
                case "--seed-messages":
                    options.SeedMessages = int.Parse(value, CultureInfo.InvariantCulture);
                    break;
                default:
                    throw new ArgumentException($"Unknown option {name}.\n{Usage}");
            }
        }

        if (options.ApiKey.Length == 0)
        {
            throw new ArgumentException("--key or --key-file is required.");
        }

        if (options.Concurrency < 1 || options.Rate < 0 || options.ContentBytes < 1)
        {
            throw new ArgumentException("--concurrency and --content-bytes must be positive, --rate zero or positive.");
        }

        if (options.Batch is < 1 or > 100 || options.Limit is < 1 or > 100 || options.SeedMessages < 1)
        {
            throw new ArgumentException("--batch and --limit must be 1-100, --seed-messages positive.");
        }

        if (options.Scenario == "list" && options.Dialogue is null)
        {
            throw new ArgumentException("The list scenario needs --dialogue (create one with --scenario seed).");
        }

        if (options.Scenario == "relay" && options.Redis is null)
        {
            throw new ArgumentException("The relay scenario needs --redis (host:port or a StackExchange.Redis string).");
        }

        return options;
    }

    /// <summary>"30s", "500ms", "2m" or plain seconds.</summary>
    private static TimeSpan ParseDuration(string value)
    {
        if (value.EndsWith("ms", StringComparison.Ordinal))
        {
            return TimeSpan.FromMilliseconds(double.Parse(value[..^2], CultureInfo.InvariantCulture));
        }

        if (value.EndsWith('s'))
        {
            return TimeSpan.FromSeconds(double.Parse(value[..^1], CultureInfo.InvariantCulture));
        }

        if (value.EndsWith('m'))
        {
            return TimeSpan.FromMinutes(double.Parse(value[..^1], CultureInfo.InvariantCulture));
        }

        return TimeSpan.FromSeconds(double.Parse(value, CultureInfo.InvariantCulture));
    }

    public const string Usage = """
        dialoguedb-loadgen --url https://127.0.0.1:8443 --key-file KEYFILE [--ca ca.crt]
          --scenario relay|appends|batch|list|read|seed
                                     relay: appends, and reads the event stream to measure publish lag (needs --redis)
                                     appends: one message per request; batch: --batch messages per request
                                     list: GET a page of --limit messages of --dialogue; read: GET /dialogue/{id}
                                     seed: append --seed-messages to a new dialogue (batches of --batch), print its id
          --rate N                   requests/s over all writers (open loop); 0 = closed loop, max throughput
          --batch 50 --limit 50 --dialogue ID --seed-messages 100
          --concurrency C            writers, one dialogue and one connection each (default 16)
          --duration 30s --warmup 5s --drain-timeout 15s
          --redis 127.0.0.1:6379 --stream 'ddb:{dev}:events'
          --namespace NS --content-bytes 200 --result-file results.tsv --label TEXT
        """;
}
