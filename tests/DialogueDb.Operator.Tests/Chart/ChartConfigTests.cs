using System.Reflection;
using System.Text.Json;
using DialogueDb.Operator.Hosting;

namespace DialogueDb.Operator.Tests.Chart;

/// <summary>
/// The operator rejects a configuration with an unknown member and exits, so a key the chart's ConfigMap writes that
/// OperatorOptions does not have would crash every install. This reads the config.json block of the template, puts
/// <c>null</c> where each template expression stands, and checks every key against the options types.
/// </summary>
public sealed class ChartConfigTests
{
    [Fact]
    public void ConfigMapJson_IsJsonApartFromItsExpressions_AndEveryKeyIsAnOperatorOption()
    {
        using var config = ConfigTemplateAsJson();

        var problems = new List<string>();
        CheckKeys(config.RootElement, typeof(OperatorOptions), "", problems);

        Assert.Empty(problems);
    }

    [Fact]
    public void ConfigMapJson_SetsEveryOperatorOption()
    {
        // A new option that the chart does not pass on would silently keep its default in every cluster.
        using var config = ConfigTemplateAsJson();
        var written = config.RootElement.EnumerateObject().Select(p => p.Name).ToHashSet();

        var missing = JsonNames(typeof(OperatorOptions)).Keys.Where(k => !written.Contains(k));

        Assert.Empty(missing);
    }

    [Fact]
    public void ConfigMapJson_PointsTheAdminConnectionsAtTheMountedSecretFiles()
    {
        var configMap = ChartFiles.Read("templates/configmap.yaml");
        var deployment = ChartFiles.Read("templates/deployment.yaml");

        Assert.Contains("\"adminConnectionFile\": {{ printf \"%s/postgres/connection\" $configDir | toJson }}", configMap, StringComparison.Ordinal);
        Assert.Contains("\"adminConnectionFile\": {{ printf \"%s/redis/connection\" $configDir | toJson }}", configMap, StringComparison.Ordinal);
        Assert.Contains("mountPath: {{ $configDir }}/postgres", deployment, StringComparison.Ordinal);
        Assert.Contains("mountPath: {{ $configDir }}/redis", deployment, StringComparison.Ordinal);
        Assert.Equal(2, CountOf(deployment, "path: connection"));
        Assert.Contains("\"{{ $configDir }}/config/config.json\"", deployment, StringComparison.Ordinal);
        Assert.Contains("mountPath: {{ $configDir }}/config\n", deployment, StringComparison.Ordinal);
    }

    private static JsonDocument ConfigTemplateAsJson()
    {
        var lines = ChartFiles.Read("templates/configmap.yaml").Split('\n');
        var start = Array.FindIndex(lines, l => l.TrimEnd() == "  config.json: |");
        Assert.True(start >= 0, "configmap.yaml has no 'config.json: |' block.");
        var block = lines.Skip(start + 1)
            .TakeWhile(l => l.StartsWith("    ", StringComparison.Ordinal) || l.Length == 0)
            .Where(l => !ChartFiles.IsActionOnlyLine(l))
            .Select(l => ChartFiles.ReplaceInlineActions(l, "null"));
        // The operator's own reader allows trailing commas, which the optional blocks rely on.
        return JsonDocument.Parse(string.Join('\n', block), new JsonDocumentOptions { AllowTrailingCommas = true });
    }

    private static void CheckKeys(JsonElement element, Type type, string path, List<string> problems)
    {
        var properties = JsonNames(type);
        foreach (var member in element.EnumerateObject())
        {
            if (!properties.TryGetValue(member.Name, out var property))
            {
                problems.Add($"{path}{member.Name} is not a property of {type.Name}.");
            }
            else if (member.Value.ValueKind == JsonValueKind.Object)
            {
                CheckKeys(member.Value, Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType, $"{path}{member.Name}.", problems);
            }
        }
    }

    private static Dictionary<string, PropertyInfo> JsonNames(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .ToDictionary(p => OperatorOptions.Json.PropertyNamingPolicy!.ConvertName(p.Name), StringComparer.Ordinal);

    private static int CountOf(string text, string value)
    {
        var count = 0;
        for (var i = text.IndexOf(value, StringComparison.Ordinal); i >= 0; i = text.IndexOf(value, i + 1, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
