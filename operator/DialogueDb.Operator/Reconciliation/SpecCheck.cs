using Cronos;
using DialogueDb.Operator.Hosting;
using DialogueDb.Operator.Resources;
using static DialogueDb.Operator.Reconciliation.ProjectNaming;

namespace DialogueDb.Operator.Reconciliation;

/// <summary>A spec problem no retry can fix: the reason (a condition reason and Event reason) and a message for people.</summary>
internal sealed record SpecProblem(string Reason, string Message);

/// <summary>
/// The checks a spec must pass before anything is created for it. A failure is terminal until the spec or the
/// operator's catalog changes (both bring the project back to the queue).
/// </summary>
internal sealed class SpecCheck(OperatorOptions options, IProjectInfrastructure infrastructure)
{
    public SpecProblem? Find(DialogueProject project)
    {
        var name = project.Metadata.Name;
        if (name.Length > MaxProjectNameLength || !OperatorOptions.DnsLabel().IsMatch(name))
        {
            return new("InvalidName", $"A project name must be a DNS label of at most {MaxProjectNameLength} characters.");
        }

        var plan = project.Spec.Plan ?? options.DefaultPlan;
        if (!options.Plans.ContainsKey(plan))
        {
            var catalog = string.Join(", ", options.Plans.Keys.Order(StringComparer.Ordinal));
            return new("UnknownPlan", $"Plan '{plan}' is not in the operator's catalog ({catalog}).");
        }

        if (project.Spec.RetentionSchedule is { } schedule && !CronExpression.TryParse(schedule, CronFormat.Standard, out _))
        {
            return new("InvalidSchedule", "spec.retentionSchedule is not a five-field cron expression.");
        }

        if (project.Spec.Database?.SecretRef is null && !infrastructure.ManagesPostgres)
        {
            return new("NoDatabase", "The project names no database Secret and the operator has no shared PostgreSQL configured.");
        }

        if (project.Spec.Redis?.SecretRef is null && !infrastructure.ManagesRedis)
        {
            return new("NoRedis", "The project names no Redis Secret and the operator has no shared Redis configured.");
        }

        var duplicate = project.Spec.ApiKeys?.GroupBy(k => k.Name).FirstOrDefault(g => g.Count() > 1);
        return duplicate is null ? null : new("InvalidSpec", $"API key '{duplicate.Key}' is listed twice.");
    }
}
