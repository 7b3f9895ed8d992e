using System.Text.Json.Nodes;

namespace DialogueDb.Operator.Tests.Fakes;

/// <summary>A bad selector; the server answers 400 BadRequest.</summary>
internal sealed class SelectorException(string message) : Exception(message);

/// <summary>Label selector syntax of the API server: <c>a=b</c>, <c>a==b</c>, <c>a!=b</c>, <c>a</c>, <c>!a</c>,
/// <c>a in (x,y)</c>, <c>a notin (x,y)</c>, comma-separated (all must hold).</summary>
internal sealed class LabelSelector
{
    private readonly List<Func<IReadOnlyDictionary<string, string>, bool>> _terms = [];

    public static LabelSelector Everything { get; } = new();

    public static LabelSelector Parse(string? text)
    {
        var selector = new LabelSelector();
        if (string.IsNullOrWhiteSpace(text))
        {
            return selector;
        }

        foreach (var raw in SplitTopLevel(text))
        {
            var term = raw.Trim();
            if (term.Length == 0)
            {
                continue;
            }

            selector._terms.Add(ParseTerm(term));
        }

        return selector;
    }

    private static Func<IReadOnlyDictionary<string, string>, bool> ParseTerm(string term)
    {
        var setMatch = term.IndexOf(" in ", StringComparison.Ordinal) is var inAt and > 0 ? (inAt, 4, true)
            : term.IndexOf(" notin ", StringComparison.Ordinal) is var notinAt and > 0 ? (notinAt, 7, false)
            : (-1, 0, false);
        if (setMatch.Item1 > 0)
        {
            var key = term[..setMatch.Item1].Trim();
            var values = term[(setMatch.Item1 + setMatch.Item2)..].Trim();
            if (!values.StartsWith('(') || !values.EndsWith(')'))
            {
                throw new SelectorException($"unable to parse requirement: {term}");
            }

            var set = values[1..^1].Split(',').Select(v => v.Trim()).ToHashSet(StringComparer.Ordinal);
            var positive = setMatch.Item3;
            return labels => labels.TryGetValue(key, out var v) ? set.Contains(v) == positive : !positive;
        }

        if (term.Contains("!=", StringComparison.Ordinal))
        {
            var (key, value) = Split(term, "!=");
            return labels => !labels.TryGetValue(key, out var v) || v != value;
        }

        if (term.Contains("==", StringComparison.Ordinal))
        {
            var (key, value) = Split(term, "==");
            return labels => labels.TryGetValue(key, out var v) && v == value;
        }

        if (term.Contains('=', StringComparison.Ordinal))
        {
            var (key, value) = Split(term, "=");
            return labels => labels.TryGetValue(key, out var v) && v == value;
        }

        if (term.StartsWith('!'))
        {
            var key = term[1..].Trim();
            return labels => !labels.ContainsKey(key);
        }

        return labels => labels.ContainsKey(term);
    }

    private static (string Key, string Value) Split(string term, string op)
    {
        var at = term.IndexOf(op, StringComparison.Ordinal);
        return (term[..at].Trim(), term[(at + op.Length)..].Trim());
    }

    private static List<string> SplitTopLevel(string text)
    {
        var parts = new List<string>();
        var depth = 0;
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            switch (text[i])
            {
                case '(':
                    depth++;
                    break;
                case ')':
                    depth--;
                    break;
                case ',' when depth == 0:
                    parts.Add(text[start..i]);
                    start = i + 1;
                    break;
            }
        }

        parts.Add(text[start..]);
        return parts;
    }

    public bool Matches(JsonObject obj)
    {
        if (_terms.Count == 0)
        {
            return true;
        }

        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (obj["metadata"]?["labels"] is JsonObject labelObject)
        {
            foreach (var (key, value) in labelObject)
            {
                labels[key] = value?.ToString() ?? "";
            }
        }

        return _terms.All(term => term(labels));
    }
}

/// <summary>Field selectors every kind supports: <c>metadata.name</c> and <c>metadata.namespace</c>, with = / == / !=.</summary>
internal sealed class FieldSelector
{
    private readonly List<(string Field, string Value, bool Equal)> _terms = [];

    public static FieldSelector Parse(string? text)
    {
        var selector = new FieldSelector();
        if (string.IsNullOrWhiteSpace(text))
        {
            return selector;
        }

        foreach (var raw in text.Split(','))
        {
            var term = raw.Trim();
            if (term.Length == 0)
            {
                continue;
            }

            var notEqual = term.IndexOf("!=", StringComparison.Ordinal);
            var (field, value, equal) = notEqual > 0
                ? (term[..notEqual], term[(notEqual + 2)..], false)
                : term.Split(["==", "="], 2, StringSplitOptions.None) is [var f, var v] ? (f, v, true)
                : throw new SelectorException($"invalid field selector: {term}");
            field = field.Trim();
            if (field is not ("metadata.name" or "metadata.namespace"))
            {
                throw new SelectorException($"field label not supported: {field}");
            }

            selector._terms.Add((field, value.Trim(), equal));
        }

        return selector;
    }

    public bool Matches(JsonObject obj) => _terms.All(term =>
    {
        var actual = obj["metadata"]?[term.Field["metadata.".Length..]]?.GetValue<string>() ?? "";
        return (actual == term.Value) == term.Equal;
    });
}
