using System.Text.RegularExpressions;

namespace DialogueDb.Operator.Hosting;

internal sealed partial class OperatorOptions
{
    public List<string> Validate()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(DefaultImage))
        {
            problems.Add("defaultImage is empty.");
        }

        if (Plans.Count == 0)
        {
            problems.Add("plans is empty.");
        }

        foreach (var (name, plan) in Plans)
        {
            if (!DnsLabel().IsMatch(name))
            {
                problems.Add($"plans: '{name}' is not a lowercase DNS label.");
            }

            problems.AddRange(plan.Validate().Select(p => $"plans.{name}: {p}"));
        }

        if (!Plans.ContainsKey(DefaultPlan))
        {
            problems.Add($"defaultPlan '{DefaultPlan}' is not in plans.");
        }

        if (Postgres is not null)
        {
            problems.AddRange(Postgres.Validate().Select(p => "postgres: " + p));
        }

        if (Redis is not null)
        {
            problems.AddRange(Redis.Validate().Select(p => "redis: " + p));
        }

        if (ResyncSeconds < 10)
        {
            problems.Add("resyncSeconds must be at least 10.");
        }

        if (UsageSeconds is < 5 or > 3600)
        {
            problems.Add("usageSeconds must be between 5 and 3600.");
        }

        if (WatchTimeoutSeconds is < 1 or > 1800)
        {
            problems.Add("watchTimeoutSeconds must be between 1 and 1800.");
        }

        if (EncryptionKeyActivationSeconds is < 0 or > 86400)
        {
            problems.Add("encryptionKeyActivationSeconds must be between 0 and 86400.");
        }

        if (Workers is < 1 or > 64)
        {
            problems.Add("workers must be between 1 and 64.");
        }

        if (LeaderElection.Enabled && string.IsNullOrEmpty(OperatorNamespace))
        {
            problems.Add("leader election needs operatorNamespace (or the POD_NAMESPACE environment variable).");
        }

        if (LeaderElection.LeaseSeconds <= LeaderElection.RenewSeconds || LeaderElection.RenewSeconds <= LeaderElection.RetrySeconds
            || LeaderElection.RetrySeconds < 1)
        {
            problems.Add("leaderElection needs leaseSeconds > renewSeconds > retrySeconds >= 1.");
        }

        return problems;
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
    internal static partial Regex DnsLabel();
}
