using System.Text;
using DialogueDb.Service.Summaries;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace DialogueDb.Service.Storage;

/// <summary>
/// The project's database: SQLite in embedded mode, PostgreSQL in production (migrations are PostgreSQL's).
/// A request sees one namespace: <see cref="UseNamespaceAsync"/> sets it on the connection, where PostgreSQL's
/// row-level security enforces it, and in the query filters, which are the second layer (and the only one on SQLite).
/// Until it is called, every query returns nothing.
/// </summary>
internal sealed class DialogueDbContext(DbContextOptions<DialogueDbContext> options) : DbContext(options)
{
    /// <summary>The session setting the row-level security policies read (see the migration).</summary>
    public const string NamespaceSetting = "dialoguedb.namespace";

    /// <summary>Prefix of the setting's value, so the default namespace ("") differs from an unset or RESET setting ("").</summary>
    public const string NamespacePrefix = "ns:";

    private string? _namespace;

    /// <summary>
    /// Binds this context (one request) to a namespace. On PostgreSQL the connection is opened once for the request and
    /// the namespace set on it in the same round trip; Npgsql resets session settings when the pooled connection is
    /// reused, so a namespace never carries over to another request.
    /// </summary>
    public async Task UseNamespaceAsync(string ns, CancellationToken ct)
    {
        if (_namespace is not null && _namespace != ns)
        {
            throw new InvalidOperationException("A request context is bound to one namespace.");
        }

        _namespace = ns;
        if (Database.IsNpgsql())
        {
            await Database.OpenConnectionAsync(ct);
            await Database.ExecuteSqlAsync($"SELECT set_config({NamespaceSetting}, {NamespacePrefix + ns}, false)", ct);
        }
    }

    public DbSet<DialogueRow> Dialogues => Set<DialogueRow>();

    public DbSet<MessageRow> Messages => Set<MessageRow>();

    public DbSet<MemoryRow> Memories => Set<MemoryRow>();

    public DbSet<PlanUsageRow> PlanUsage => Set<PlanUsageRow>();

    public DbSet<QuotaStripeRow> QuotaStripes => Set<QuotaStripeRow>();

    public DbSet<OutboxRow> Outbox => Set<OutboxRow>();

    public DbSet<Search.SearchQueueRow> SearchQueue => Set<Search.SearchQueueRow>();

    public DbSet<Search.SearchItemRow> SearchItems => Set<Search.SearchItemRow>();


    public DbSet<Search.SearchNamespaceRow> SearchNamespaces => Set<Search.SearchNamespaceRow>();

    public DbSet<Search.SearchVectorQueueRow> SearchVectorQueue => Set<Search.SearchVectorQueueRow>();

    public DbSet<SummaryRow> Summaries => Set<SummaryRow>();

    public DbSet<SummaryJobRow> SummaryJobs => Set<SummaryJobRow>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.ApplyConfiguration(new DialogueRowConfiguration());
        modelBuilder.ApplyConfiguration(new MessageRowConfiguration());
        modelBuilder.ApplyConfiguration(new MemoryRowConfiguration());
        modelBuilder.Entity<OutboxRow>(outbox =>
        {
            outbox.ToTable("outbox");
            outbox.HasKey(o => o.Id);
            outbox.Property(o => o.Id).ValueGeneratedOnAdd();
            outbox.Property(o => o.EventId).HasMaxLength(26);
            outbox.Property(o => o.Namespace).HasMaxLength(128);
            outbox.Property(o => o.Subject).HasMaxLength(128);
            outbox.HasIndex(o => new { o.Namespace, o.Subject });
        });
        modelBuilder.Entity<PlanUsageRow>(usage =>
        {
            usage.ToTable("plan_usage");
            usage.HasKey(u => new { u.Period, u.Kind });
            usage.Property(u => u.Period).HasMaxLength(16);
            usage.Property(u => u.Kind).HasMaxLength(16);
        });
        modelBuilder.Entity<QuotaStripeRow>(stripe =>
        {
            stripe.ToTable("quota_stripes");
            stripe.HasKey(s => new { s.Period, s.Kind, s.Stripe });
            stripe.Property(s => s.Period).HasMaxLength(16);
            stripe.Property(s => s.Kind).HasMaxLength(16);
        });
        Search.SearchRowConfigurations.Configure(modelBuilder);
        SummaryRowConfigurations.Configure(modelBuilder);
        modelBuilder.Entity<DialogueRow>().HasQueryFilter(d => d.Namespace == _namespace);
        modelBuilder.Entity<MessageRow>().HasQueryFilter(m => m.Namespace == _namespace);
        modelBuilder.Entity<MemoryRow>().HasQueryFilter(m => m.Namespace == _namespace);
        modelBuilder.Entity<Search.SearchItemRow>().HasQueryFilter(i => i.Namespace == _namespace);
        modelBuilder.Entity<Search.SearchNamespaceRow>().HasQueryFilter(n => n.Namespace == _namespace);
        modelBuilder.Entity<SummaryRow>().HasQueryFilter(s => s.Namespace == _namespace);
        modelBuilder.Entity<SummaryJobRow>().HasQueryFilter(j => j.Namespace == _namespace);

        var postgres = Database.IsNpgsql();
        foreach (var entity in modelBuilder.Model.GetEntityTypes())
        {
            foreach (var property in entity.GetProperties())
            {
                property.SetColumnName(SnakeCase(property.Name));

                // Ids and namespaces compare byte-wise (as SQLite does), so keyset order never depends on a locale.
                if (postgres && property.ClrType == typeof(string)
                    && property.Name is "Namespace" or "Id" or "DialogueId" or "ThreadOf" or "ItemId" or "SummaryId")
                {
                    property.SetCollation("C");
                }
            }
        }
    }

    private static string SnakeCase(string name)
    {
        var builder = new StringBuilder(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0)
            {
                builder.Append('_');
            }

            builder.Append(char.ToLowerInvariant(name[i]));
        }

        return builder.ToString();
    }
}

internal sealed class DialogueRowConfiguration : IEntityTypeConfiguration<DialogueRow>
{
    public void Configure(EntityTypeBuilder<DialogueRow> builder)
    {
        builder.ToTable("dialogues");
        builder.HasKey(d => new { d.Namespace, d.Id });
        builder.Property(d => d.Namespace).HasMaxLength(128);
        builder.Property(d => d.Id).HasMaxLength(128);
        builder.Property(d => d.ThreadOf).HasMaxLength(128);
        builder.Property(d => d.Status).HasMaxLength(16);

        // Keyset pages: newest/oldest first within a namespace, and threads of one parent.
        builder.HasIndex(d => new { d.Namespace, d.Created, d.Id });
        builder.HasIndex(d => new { d.Namespace, d.ThreadOf, d.Created, d.Id });

        // Every append updates its dialogue's row (sequence, counts, modified). With no index on those columns and room
        // left on each page, PostgreSQL updates it in place (a heap-only tuple): no new index entries per append and no
        // dead versions piling up under a busy dialogue. So `modified` has no index: retention walks the primary key.
        builder.HasStorageParameter("fillfactor", 70);
    }
}

internal sealed class MessageRowConfiguration : IEntityTypeConfiguration<MessageRow>
{
    public void Configure(EntityTypeBuilder<MessageRow> builder)
    {
        builder.ToTable("messages");

        // The primary key is the dialogue's total order, so a page of a 100,000-message dialogue is one index range scan.
        builder.HasKey(m => new { m.Namespace, m.DialogueId, m.Seq });
        builder.HasIndex(m => new { m.Namespace, m.DialogueId, m.Id }).IsUnique();
        builder.Property(m => m.Namespace).HasMaxLength(128);
        builder.Property(m => m.DialogueId).HasMaxLength(128);
        builder.Property(m => m.Id).HasMaxLength(128).IsRequired();
        builder.Property(m => m.Seq).ValueGeneratedNever();
    }
}

internal sealed class MemoryRowConfiguration : IEntityTypeConfiguration<MemoryRow>
{
    public void Configure(EntityTypeBuilder<MemoryRow> builder)
    {
        builder.ToTable("memories");
        builder.HasKey(m => new { m.Namespace, m.Id });
        builder.HasIndex(m => new { m.Namespace, m.Created, m.Id });
        builder.HasIndex(m => new { m.Term, m.Modified });
        builder.Property(m => m.Namespace).HasMaxLength(128);
        builder.Property(m => m.Id).HasMaxLength(128);
        builder.Property(m => m.Type).HasMaxLength(16);
        builder.Property(m => m.Term).HasMaxLength(16);
    }
}
