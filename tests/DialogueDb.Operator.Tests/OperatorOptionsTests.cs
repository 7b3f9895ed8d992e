using DialogueDb.Operator.Hosting;

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
        var path = Path.Combine(Path.GetTempPath(), $"operator-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """
            { "defaultPlan": "gold", "plans": { "Free!": { "requestsPerSecond": 0 } },
              "postgres": { "host": "", "adminConnectionFile": "" }, "workers": 0, "operatorNamespace": "ops" }
            """);
        try
        {
            var error = Assert.Throws<InvalidOperationException>(() => OperatorOptions.Load(path));

            Assert.Contains("defaultPlan 'gold' is not in plans", error.Message, StringComparison.Ordinal);
            Assert.Contains("'Free!' is not a lowercase DNS label", error.Message, StringComparison.Ordinal);
            Assert.Contains("requestsPerSecond must be at least 1", error.Message, StringComparison.Ordinal);
            Assert.Contains("postgres: host is empty", error.Message, StringComparison.Ordinal);
            Assert.Contains("workers must be between 1 and 64", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Load_UnknownField_IsRejected()
    {
        var path = Path.Combine(Path.GetTempPath(), $"operator-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{ "defaultImagee": "x", "operatorNamespace": "ops" }""");
        try
        {
            var error = Assert.Throws<InvalidOperationException>(() => OperatorOptions.Load(path));

            Assert.Contains("defaultImagee", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
