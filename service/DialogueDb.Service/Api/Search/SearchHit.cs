using DialogueDb.Service.Storage;

namespace DialogueDb.Service.Api.Search;

/// <summary>One accepted result: exactly one of the item kinds is set.</summary>
internal sealed record SearchHit(double Relevance, long Created, long Modified, MemoryRow? Memory = null, MessageRow? Message = null,
    DialogueRow? Dialogue = null, List<MessageRow>? Matches = null);
