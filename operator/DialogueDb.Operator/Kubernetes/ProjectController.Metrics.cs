using System.Diagnostics.Metrics;
using DialogueDb.Operator.Reconciliation;

namespace DialogueDb.Operator.Kubernetes;

internal sealed partial class ProjectController
{
    /// <summary>
    /// Conditions every project has (one without it yet counts as Unknown), then the one only a project with an external
    /// indexer has: a project without <c>SearchIndexerReady</c> (in-process indexing) is not counted for it, or every
    /// such project would look like an indexer of unknown health.
    /// </summary>
    private static readonly string[] AlwaysCounted = [Conditions.Ready, Conditions.Progressing, Conditions.Degraded];

    private static readonly string[] CountedWhenPresent = [Conditions.SearchIndexerReady];

    /// <summary>The gauges whose values this controller holds: the queue's depth and the projects by condition.</summary>
    private void ObserveGauges(Meter meter)
    {
        meter.CreateObservableGauge("workqueue_depth", () => new Measurement<int>(_queue.Count,
            new KeyValuePair<string, object?>("name", OperatorMetrics.ControllerName)), "{item}", "Keys waiting in the work queue");
        meter.CreateObservableGauge("dialoguedb_operator_projects", ObserveProjects, "{project}",
            "DialogueProjects by condition (Ready, Progressing, Degraded; SearchIndexerReady of those with an external indexer) "
            + "and its status (True, False, Unknown)");
    }

    private IEnumerable<Measurement<int>> ObserveProjects()
    {
        var counts = new Dictionary<(string Condition, string Status), int>();
        foreach (var condition in AlwaysCounted.Concat(CountedWhenPresent))
        {
            foreach (var status in (string[])["True", "False", "Unknown"])
            {
                counts[(condition, status)] = 0;
            }
        }

        foreach (var project in Projects)
        {
            foreach (var condition in AlwaysCounted.Concat(CountedWhenPresent))
            {
                var status = project.Status?.Conditions?.FirstOrDefault(c => c.Type == condition)?.Status;
                if (status is null && CountedWhenPresent.Contains(condition))
                {
                    continue;
                }

                var key = (condition, status is not null && counts.ContainsKey((condition, status)) ? status : "Unknown");
                counts[key]++;
            }
        }

        return counts.Select(c => new Measurement<int>(c.Value, new KeyValuePair<string, object?>("condition", c.Key.Condition),
            new KeyValuePair<string, object?>("status", c.Key.Status)));
    }
}
