using DialogueDb.Service.Policy;

namespace DialogueDb.Service.Tests.Policy;

public sealed class ProjectDocumentTests
{
    [Fact]
    public void Parse_UnknownPlan_IsRejected()
    {
        var error = Assert.Throws<InvalidOperationException>(() =>
            ProjectDocument.Parse("""{"projectId":"p","plan":"gold","apiKeys":[]}""", "test"));

        Assert.Contains("unknown plan", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_CompleteDocument_OperatorPlanName_UsesOnlyItsOwnNumbers()
    {
        var document = ProjectDocument.Parse(
            """{"projectId":"p","plan":"gold","complete":true,"apiKeys":[],"limits":{"requestsPerSecond":50,"messagesPerMonth":7},"retention":{"dialogueDays":10,"longTermMemoryDays":0}}""",
            "test");

        var effective = document.Effective;

        Assert.Equal("gold", effective.Plan);
        Assert.Equal(50, effective.RequestsPerSecond);
        Assert.Equal(7, effective.MessagesPerMonth);
        Assert.Null(effective.DialoguesPerMonth);
        Assert.Null(effective.RequestsPerMonth);
        Assert.Equal(10, effective.DialogueRetentionDays);
        Assert.Null(effective.ShortTermMemoryRetentionDays);
        Assert.Null(effective.LongTermMemoryRetentionDays);
    }

    [Fact]
    public void Parse_CompleteDocument_KnownPlanName_DoesNotInheritThatPlansNumbers()
    {
        var document = ProjectDocument.Parse("""{"projectId":"p","plan":"free","complete":true,"apiKeys":[]}""", "test");

        Assert.Null(document.Effective.MessagesPerMonth);
        Assert.Null(document.Effective.RequestsPerSecond);
    }
}
