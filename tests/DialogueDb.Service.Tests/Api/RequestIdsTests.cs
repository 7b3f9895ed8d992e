using System.Text.RegularExpressions;
using DialogueDb.Service.Api;

namespace DialogueDb.Service.Tests.Api;

public sealed partial class RequestIdsTests
{
    [Fact]
    public void New_IsARandomVersion4Uuid_NeverRepeated()
    {
        var ids = Enumerable.Range(0, 100_000).Select(_ => RequestIds.New()).ToList();

        Assert.All(ids, id => Assert.Matches(Version4(), id));
        Assert.Equal(ids.Count, ids.Distinct(StringComparer.Ordinal).Count());
        // Every hex digit outside the fixed version and variant bits varies across the ids.
        for (var position = 0; position < 36; position++)
        {
            if (position is 8 or 13 or 14 or 18 or 19 or 23)
            {
                continue;
            }

            Assert.True(ids.Select(id => id[position]).Distinct().Count() == 16, $"position {position} does not take all 16 digits");
        }
    }

    [GeneratedRegex("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")]
    private static partial Regex Version4();
}
