using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Summaries;

internal static class SummaryRowConfigurations
{
    public const string SummariesTable = "summaries";
    public const string JobsTable = "summary_jobs";

    public static readonly string[] Tables = [SummariesTable, JobsTable];

    public static void Configure(ModelBuilder model)
    {
        model.Entity<SummaryRow>(summary =>
        {
            summary.ToTable(SummariesTable);
            summary.HasKey(s => new { s.Namespace, s.Id });
            summary.Property(s => s.Namespace).HasMaxLength(128);
            summary.Property(s => s.Id).HasMaxLength(128);
            summary.Property(s => s.DialogueId).HasMaxLength(128);
            summary.Property(s => s.Status).HasMaxLength(16);
            summary.Property(s => s.Provider).HasMaxLength(32);
            summary.Property(s => s.Model).HasMaxLength(256);
            summary.Property(s => s.Template).HasMaxLength(128);
            summary.Property(s => s.ErrorCode).HasMaxLength(64);
            summary.Property(s => s.ErrorMessage).HasMaxLength(1024);
            // Keyset pages of one dialogue's summaries (newest first); a deleted dialogue's summaries are found by it.
            summary.HasIndex(s => new { s.Namespace, s.DialogueId, s.Created, s.Id });
        });
        model.Entity<SummaryJobRow>(job =>
        {
            job.ToTable(JobsTable);
            job.HasKey(j => j.Id);
            job.Property(j => j.Id).ValueGeneratedOnAdd();
            job.Property(j => j.Namespace).HasMaxLength(128);
            job.Property(j => j.SummaryId).HasMaxLength(128);
            job.Property(j => j.DialogueId).HasMaxLength(128);
            job.Property(j => j.ClaimedBy).HasMaxLength(64);
            job.HasIndex(j => new { j.Namespace, j.SummaryId }).IsUnique();
            job.HasIndex(j => new { j.Namespace, j.DialogueId });
            // Workers look for due jobs.
            job.HasIndex(j => j.NotBefore);
        });
    }
}
