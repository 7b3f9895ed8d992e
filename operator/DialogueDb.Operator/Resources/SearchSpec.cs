using System.ComponentModel;
using System.ComponentModel.DataAnnotations;

namespace DialogueDb.Operator.Resources;

internal sealed class SearchSpec
{
    [Description("False: no index work is queued, no indexer runs and POST /search answers 404 (DIALOGUEDB_SEARCH_ENABLED of the pods; " +
        "a change rolls them). Turned on again later, only what is written from then on is indexed.")]
    [DefaultValue(true)]
    public bool? Enabled { get; set; }

    [Description("Where the index is built. Absent: inside the API pods.")]
    public SearchIndexerSpec? Indexer { get; set; }

    [Description("Raise to rebuild the search index of every namespace from the stored data (after a restore, or to force it): the " +
        "operator runs one Job <project>-reindex-<value> per new value and reports it in status.search.reindex.")]
    [Range(0, int.MaxValue)]
    public int? Reindex { get; set; }
}

internal sealed class SearchIndexerSpec
{
    [Description("inprocess (default): the API pods index what they write. external: the API only queues the work and a Deployment " +
        "<project>-indexer runs `dialoguedb index` on pods of its own; one indexes at a time, the others stand by.")]
    [AllowedValues("inprocess", "external")]
    [DefaultValue("inprocess")]
    public string? Mode { get; set; }

    [Description("Indexer pods (external mode). Absent: 1; 2 keeps a warm standby that takes over within seconds. None while the " +
        "project is scaled to zero (spec.replicas: 0).")]
    [Range(1, 10)]
    public int? Replicas { get; set; }

    [Description("CPU and memory requests and limits of each indexer pod (external mode) and of the reindex Jobs' pods. Absent: those " +
        "of the API pods.")]
    public ResourceRequirements? Resources { get; set; }
}
