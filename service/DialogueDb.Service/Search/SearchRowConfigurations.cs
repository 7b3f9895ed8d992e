using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Search;

internal static class SearchRowConfigurations
{
    public const string QueueTable = "search_queue";
    public const string ItemsTable = "search_items";
    public const string NamespacesTable = "search_namespaces";
    public const string VectorQueueTable = "search_vector_queue";

    public static readonly string[] Tables = [QueueTable, ItemsTable, NamespacesTable, VectorQueueTable];

    public static void Configure(ModelBuilder model)
    {
        model.Entity<SearchQueueRow>(queue =>
        {
            queue.ToTable(QueueTable);
            queue.HasKey(q => q.Id);
            queue.Property(q => q.Id).ValueGeneratedOnAdd();
            queue.Property(q => q.Namespace).HasMaxLength(128);
            queue.Property(q => q.Kind).HasMaxLength(16);
            queue.Property(q => q.ItemId).HasMaxLength(128);
            queue.Property(q => q.DialogueId).HasMaxLength(128);
        });
        model.Entity<SearchItemRow>(item =>
        {
            item.ToTable(ItemsTable);
            // Message ids are unique within their dialogue only: a message's key holds its dialogue (empty for a memory).
            // With the dialogue before the id, the key also finds a deleted dialogue's messages.
            item.HasKey(i => new { i.Namespace, i.Kind, i.DialogueId, i.ItemId });
            item.Property(i => i.Namespace).HasMaxLength(128);
            item.Property(i => i.Kind).HasMaxLength(16);
            item.Property(i => i.ItemId).HasMaxLength(128);
            item.Property(i => i.DialogueId).HasMaxLength(128);
            // Caches load what changed since their version. The version index leaves the kind out on purpose: with
            // (namespace, kind) in front, the planner, while the table's statistics were young, took it instead of the
            // primary key for lookups by item id and read every item of the namespace (seen at 1,400 buffers per vector
            // update).
            item.HasIndex(i => new { i.Namespace, i.Version });
            // Removed-item markers only (an indexed item always has vectors, empty until computed): the keyword step's
            // purge of old markers reads these, not every item of the namespace through the version index (240 ms at
            // 345,000 items, inside the indexing transaction, which held back every audit event behind it). Only
            // queries that say "vectors IS NULL" can use it.
            item.HasIndex(i => new { i.Namespace, i.Kind, i.Version }, "IX_search_items_markers").HasFilter("vectors IS NULL");
        });
        model.Entity<SearchVectorQueueRow>(queue =>
        {
            queue.ToTable(VectorQueueTable);
            queue.HasKey(q => q.Id);
            queue.Property(q => q.Id).ValueGeneratedOnAdd();
            queue.Property(q => q.Namespace).HasMaxLength(128);
            queue.Property(q => q.Kind).HasMaxLength(16);
            queue.Property(q => q.ItemId).HasMaxLength(128);
            queue.Property(q => q.DialogueId).HasMaxLength(128);
            // One entry per item: indexing an item again replaces its entry.
            queue.HasIndex(q => new { q.Namespace, q.Kind, q.DialogueId, q.ItemId }).IsUnique();
        });
        model.Entity<SearchNamespaceRow>(ns =>
        {
            ns.ToTable(NamespacesTable);
            ns.HasKey(n => new { n.Namespace, n.Kind });
            ns.Property(n => n.Namespace).HasMaxLength(128);
            ns.Property(n => n.Kind).HasMaxLength(16);
            ns.Property(n => n.Model).HasMaxLength(300);
            ns.Property(n => n.RebuildCursor).HasMaxLength(300);
        });
    }
}
