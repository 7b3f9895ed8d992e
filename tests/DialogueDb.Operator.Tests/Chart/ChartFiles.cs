using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace DialogueDb.Operator.Tests.Chart;

/// <summary>
/// Reads the Helm chart's files for static checks. There is no Helm here, and these tests do not try to be a template
/// renderer: they read plain YAML/JSON files, and template files only after taking the template actions out.
/// </summary>
internal static partial class ChartFiles
{
    public static string ChartDir { get; } = Path.Combine(RepositoryRoot.Path, "charts", "dialoguedb-operator");

    public static string Read(string relativePath) => File.ReadAllText(Path.Combine(ChartDir, relativePath));

    public static JsonNode? ValuesAsJson() => YamlToJson(Read("values.yaml"));

    /// <summary>The first document of <paramref name="yaml"/> as JSON, with scalars typed by the YAML 1.2 core schema, as Helm types them.</summary>
    public static JsonNode? YamlToJson(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return Convert(stream.Documents[0].RootNode);
    }

    /// <summary>
    /// Every YAML document of a template, once comments are dropped, lines holding only template actions
    /// (<c>if</c>, <c>range</c>, <c>include … | nindent</c>, <c>end</c>) are removed, and inline expressions become a
    /// placeholder scalar. What remains must be YAML; a stray indent or an unclosed bracket fails to parse.
    /// </summary>
    public static IReadOnlyList<YamlDocument> TemplateDocuments(string relativePath)
    {
        var text = TemplateComment().Replace(Read(relativePath), "");
        var lines = text.Split('\n').Where(l => !ActionOnlyLine().IsMatch(l)).Select(l => InlineAction().Replace(l, "x"));
        var stream = new YamlStream();
        stream.Load(new StringReader(string.Join('\n', lines)));
        return [.. stream.Documents];
    }

    public static bool IsActionOnlyLine(string line) => ActionOnlyLine().IsMatch(line);

    public static string ReplaceInlineActions(string line, string placeholder) => InlineAction().Replace(line, placeholder);

    private static JsonNode? Convert(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(c =>
            KeyValuePair.Create(((YamlScalarNode)c.Key).Value!, Convert(c.Value)))),
        YamlSequenceNode seq => new JsonArray(seq.Children.Select(Convert).ToArray()),
        YamlScalarNode scalar => Scalar(scalar),
        _ => throw new InvalidOperationException($"Unsupported YAML node {node.NodeType} at {node.Start}."),
    };

    private static JsonValue? Scalar(YamlScalarNode scalar)
    {
        var value = scalar.Value ?? "";
        if (scalar.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted or ScalarStyle.Literal or ScalarStyle.Folded)
        {
            return JsonValue.Create(value);
        }

        return value switch
        {
            "" or "~" or "null" or "Null" or "NULL" => null,
            "true" or "True" or "TRUE" => JsonValue.Create(true),
            "false" or "False" or "FALSE" => JsonValue.Create(false),
            _ when long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l) => JsonValue.Create(l),
            _ when FloatScalar().IsMatch(value) => JsonValue.Create(double.Parse(value, CultureInfo.InvariantCulture)),
            _ => JsonValue.Create(value),
        };
    }

    [GeneratedRegex(@"\{\{-?\s*/\*.*?\*/\s*-?\}\}\n?", RegexOptions.Singleline)]
    private static partial Regex TemplateComment();

    [GeneratedRegex(@"^\s*(\{\{[^}]*\}\}\s*)+$")]
    private static partial Regex ActionOnlyLine();

    [GeneratedRegex(@"\{\{.*?\}\}")]
    private static partial Regex InlineAction();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex FloatScalar();
}
