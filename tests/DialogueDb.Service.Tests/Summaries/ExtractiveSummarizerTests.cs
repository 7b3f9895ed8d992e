using DialogueDb.Service.Policy;
using DialogueDb.Service.Search;
using DialogueDb.Service.Summaries;

namespace DialogueDb.Service.Tests.Summaries;

/// <summary>The extractive provider: central sentences kept in dialogue order within the budget, with and without embeddings.</summary>
public sealed class ExtractiveSummarizerTests
{
    private static readonly TranscriptLine[] Lines =
    [
        new("user", null, "Our team is moving the billing service to PostgreSQL next month. Lunch was nice today."),
        new("assistant", null, "Moving the billing service to PostgreSQL needs a data migration plan. What is the deadline?"),
        new("user", null, "The billing service migration to PostgreSQL must finish before the audit in March."),
        new("assistant", null, "Then schedule the PostgreSQL migration of billing in February, with a rollback plan."),
        new("user", null, "By the way, the office plants need water."),
    ];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TfIdf_KeepsCentralSentencesInOrderWithinTheBudget()
    {
        var settings = SummarySettings.Default with { MaxSummaryCharacters = 200 };

        var written = await new ExtractiveSummarizer(null).SummarizeAsync(new SummaryInput(Lines, "", settings), Ct);

        Assert.Equal("textrank-tfidf", written.Model);
        Assert.InRange(written.Content.Length, 40, 200);
        Assert.Contains("PostgreSQL", written.Content, StringComparison.Ordinal);
        Assert.DoesNotContain("plants", written.Content, StringComparison.Ordinal);
        Assert.DoesNotContain("Lunch", written.Content, StringComparison.Ordinal);
        AssertInDialogueOrder(written.Content);
    }

    [Fact]
    public async Task Embeddings_KeepCentralSentencesInOrderWithinTheBudget()
    {
        var settings = SummarySettings.Default with { MaxSummaryCharacters = 200 };
        var embedder = new MiniLmEmbedder();

        var written = await new ExtractiveSummarizer(embedder).SummarizeAsync(new SummaryInput(Lines, "", settings), Ct);

        Assert.Equal("textrank-" + embedder.Model, written.Model);
        Assert.InRange(written.Content.Length, 40, 200);
        Assert.Contains("PostgreSQL", written.Content, StringComparison.Ordinal);
        Assert.DoesNotContain("plants", written.Content, StringComparison.Ordinal);
        AssertInDialogueOrder(written.Content);
    }

    [Fact]
    public async Task OneLongSentenceOverBudget_IsCutToTheBudget()
    {
        var settings = SummarySettings.Default with { MaxSummaryCharacters = 100 };
        var line = new TranscriptLine("user", null, string.Join(' ', Enumerable.Repeat("word", 100)));

        var written = await new ExtractiveSummarizer(null).SummarizeAsync(new SummaryInput([line], "", settings), Ct);

        Assert.Equal(100, written.Content.Length);
        Assert.EndsWith("…", written.Content, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LongDialogue_NarrowedAndStillWithinTheBudget()
    {
        var lines = Enumerable.Range(0, 1_000)
            .Select(i => new TranscriptLine("user", null, $"Ticket {i} is about the login page timing out. Customer {i} also asked about invoices."))
            .ToList();

        var written = await new ExtractiveSummarizer(null).SummarizeAsync(new SummaryInput(lines, "", SummarySettings.Default), Ct);

        Assert.InRange(written.Content.Length, 100, SummarySettings.Default.MaxSummaryCharacters);
    }

    private static void AssertInDialogueOrder(string content)
    {
        var sentences = Lines.SelectMany(l => SentenceSplitter.Split(l.Text)).ToList();
        var positions = sentences.Select(s => content.IndexOf(s, StringComparison.Ordinal)).Where(p => p >= 0).ToList();
        Assert.NotEmpty(positions);
        Assert.Equal(positions.Order(), positions);
    }
}
