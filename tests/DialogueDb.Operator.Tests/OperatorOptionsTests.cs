using DialogueDb.Operator.Hosting;
using DialogueDb.Service.Tests.Infrastructure;

namespace DialogueDb.Operator.Tests;

public sealed class OperatorOptionsTests
{
    [Fact]
    public void Defaults_WithLeaderElectionOff_AreValid_AndCarryTheContractPlans()
    {
        var options = new OperatorOptions { LeaderElection = { Enabled = false } };

        Assert.Empty(options.Validate());
        Assert.Equal(["business", "enterprise", "free", "pro", "starter"], options.Plans.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Load_ListsEveryProblem_AndNeverEchoesValues()
    {
        using var folder = new TestFolder();
        var path = Path.Combine(folder.Path, "operator.json");
        File.WriteAllText(path, """
            { "defaultPlan": "gold", "plans": { "Free!": { "requestsPerSecond": 0 } },
              "postgres": { "host": "", "adminConnectionFile": "" }, "workers": 0, "operatorNamespace": "ops" }
            """);

        var error = Assert.Throws<InvalidOperationException>(() => OperatorOptions.Load(path));

        Assert.Contains("defaultPlan 'gold' is not in plans", error.Message, StringComparison.Ordinal);
        Assert.Contains("'Free!' is not a lowercase DNS label", error.Message, StringComparison.Ordinal);
        Assert.Contains("requestsPerSecond must be at least 1", error.Message, StringComparison.Ordinal);
        Assert.Contains("postgres: host is empty", error.Message, StringComparison.Ordinal);
        Assert.Contains("workers must be between 1 and 64", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_UnknownField_IsRejected()
    {
        using var folder = new TestFolder();
        var path = Path.Combine(folder.Path, "operator.json");
        File.WriteAllText(path, """{ "defaultImagee": "x", "operatorNamespace": "ops" }""");

        var error = Assert.Throws<InvalidOperationException>(() => OperatorOptions.Load(path));

        Assert.Contains("defaultImagee", error.Message, StringComparison.Ordinal);
    }
}
