using DialogueDb.Service.Policy;

namespace DialogueDb.Service.Tests.Summaries;

/// <summary>The policy's <c>summaries</c> section: validated when the document is read, templates looked up by name.</summary>
public sealed class SummarySettingsTests
{
    [Theory]
    [InlineData("""{"provider":"gpt"}""", "summaries.provider")]
    [InlineData("""{"provider":"openai-compatible","baseUrl":"https://x/v1"}""", "summaries.model")]
    [InlineData("""{"provider":"openai-compatible","model":"m","baseUrl":"ftp://x"}""", "summaries.baseUrl")]
    [InlineData("""{"templates":{"bad name":"x"}}""", "summaries.templates")]
    [InlineData("""{"templates":{"short":""}}""", "summaries.templates")]
    [InlineData("""{"contextTokens":10}""", "summaries.contextTokens")]
    public void Parse_BadSummaries_RefusedNamingTheField(string summaries, string field)
    {
        var json = $$"""{"projectId":"p","apiKeys":[],"summaries":{{summaries}}}""";

        var error = Assert.Throws<InvalidOperationException>(() => ProjectDocument.Parse(json, "test"));

        Assert.Contains(field, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_Templates_PickedByNameWithTheBuiltInDefault()
    {
        var document = ProjectDocument.Parse("""
            {"projectId":"p","apiKeys":[],"summaries":{"provider":"openai-compatible","model":"m","baseUrl":"https://llm/v1",
             "templates":{"support":"Summarise the support case."}}}
            """, "test");

        var settings = document.Summaries!;
        Assert.Equal("Summarise the support case.", settings.PromptOf("support"));
        Assert.Equal(SummarySettings.DefaultPrompt, settings.PromptOf("default"));
        Assert.Null(settings.PromptOf("haiku"));
        Assert.Null(ProjectDocument.Parse("""{"projectId":"p","apiKeys":[]}""", "test").Summaries);
    }
}
