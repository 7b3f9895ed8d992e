using DialogueDb.Service.Policy;
using DialogueDb.Service.Search;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Summaries;

/// <summary>
/// Runs one summary job: reads the summary's message range as it is stored now (messages deleted meanwhile are simply
/// not there), decrypts the text of each, and has the project's provider write the summary with the template's prompt.
/// The provider and template in force when the job runs are the summary's own (a policy change does not alter it).
/// </summary>
internal sealed class SummaryRunner(Func<DialogueDbContext> newContext, ContentProtector protector, ProjectPolicy policy,
    Func<SummarySettings, ISummarizer> summarizerFor)
{
    private const int Page = 500;

    /// <summary>The outcome, or null when the summary is gone (deleted, or its dialogue was).</summary>
    public async Task<SummaryOutcome?> RunAsync(ClaimedJob job, CancellationToken ct)
    {
        await using var db = newContext();
        await db.UseNamespaceAsync(job.Namespace, ct);
        var summary = await db.Summaries.AsNoTracking().FirstOrDefaultAsync(s => s.Namespace == job.Namespace && s.Id == job.SummaryId, ct);
        if (summary is null)
        {
            return null;
        }

        var lines = new List<TranscriptLine>();
        long? first = null, last = null;
        var count = 0;
        for (var from = summary.FromSeq; from <= summary.ToSeq;)
        {
            var start = from;
            var page = await db.Messages.AsNoTracking()
                .Where(m => m.Namespace == summary.Namespace && m.DialogueId == summary.DialogueId && m.Seq >= start && m.Seq <= summary.ToSeq)
                .OrderBy(m => m.Seq).Take(Page).ToListAsync(ct);
            if (page.Count == 0)
            {
                break;
            }

            foreach (var message in page)
            {
                first ??= message.Created;
                last = message.Created;
                count++;
                var text = TextOf(message);
                if (text.Length > 0)
                {
                    lines.Add(new TranscriptLine(message.Role, NameOf(message), text));
                }
            }

            from = page[^1].Seq + 1;
        }

        var settings = SettingsFor(summary);
        if (lines.Count == 0)
        {
            return new SummaryOutcome(null, summary.Model, first, last, count, 0);
        }

        var prompt = settings.PromptOf(summary.Template) ?? SummarySettings.DefaultPrompt;
        var written = await summarizerFor(settings).SummarizeAsync(new SummaryInput(lines, prompt, settings), ct);
        return new SummaryOutcome(written.Content, written.Model, first, last, count, lines.Count);
    }

    /// <summary>The policy's settings, or the extractive default when the policy changed provider since the request.</summary>
    private SummarySettings SettingsFor(SummaryRow summary)
    {
        var settings = policy.Current.Summaries ?? SummarySettings.Default;
        return settings.Provider == summary.Provider ? settings : SummarySettings.Default with { Templates = settings.Templates };
    }

    private string TextOf(MessageRow message)
    {
        byte[] plaintext;
        try
        {
            plaintext = protector.Decrypt(message.Content, RowIdentity.MessageContent(message.Namespace, message.DialogueId, message.Id));
        }
        catch (ContentDecryptionException ex) when (ex is not UnknownDataKeyException)
        {
            throw new SummaryFailure(SummaryFailure.ContentUnreadable, "A message of the range could not be decrypted", transient: false);
        }

        return SearchText.OfMessage(System.Text.Encoding.UTF8.GetString(plaintext));
    }

    /// <summary>The message's name (stored encrypted like its content), with the same failure as unreadable content.</summary>
    private string? NameOf(MessageRow message)
    {
        try
        {
            return protector.DecryptText(message.Name, RowIdentity.MessageName(message.Namespace, message.DialogueId, message.Id));
        }
        catch (ContentDecryptionException ex) when (ex is not UnknownDataKeyException)
        {
            throw new SummaryFailure(SummaryFailure.ContentUnreadable, "A message of the range could not be decrypted", transient: false);
        }
    }
}
