using System.Globalization;
using System.Text.Json.Nodes;

namespace DialogueDb.Operator.Tests.Fakes;

/// <summary>A patch that cannot be applied; the server answers 422 Invalid (or 400 for a malformed document).</summary>
internal sealed class PatchException(string message, bool malformed = false) : Exception(message)
{
    public bool Malformed { get; } = malformed;
}

/// <summary>RFC 7386 merge patch, a strategic merge patch reduced to "merge patch plus keyed lists", and RFC 6902.</summary>
internal static class JsonPatches
{
    /// <summary>Merges <paramref name="patch"/> into <paramref name="target"/> in place when both are objects.</summary>
    public static JsonNode? MergePatch(JsonNode? target, JsonNode? patch, bool strategic)
    {
        if (patch is not JsonObject patchObject)
        {
            return patch?.DeepClone();
        }

        var result = target as JsonObject ?? [];
        foreach (var (name, value) in patchObject)
        {
            if (strategic && name.StartsWith('$'))
            {
                continue; // directives such as $setElementOrder only order lists; order is not modelled
            }

            if (value is null)
            {
                result.Remove(name);
                continue;
            }

            var existing = result[name];
            if (strategic && value is JsonArray patchList && existing is JsonArray currentList
                && FieldPaths.ListKeyOf(name, currentList, patchList) is { } key)
            {
                MergeKeyedList(currentList, patchList, key);
                continue;
            }

            var merged = MergePatch(existing, value, strategic);
            if (!ReferenceEquals(merged, existing))
            {
                result[name] = merged;
            }
        }

        return result;
    }

    private static void MergeKeyedList(JsonArray current, JsonArray patch, string key)
    {
        foreach (var item in patch)
        {
            var index = FieldPaths.IndexOfItem(current, item, key);
            var delete = item is JsonObject o && o["$patch"]?.GetValue<string>() == "delete";
            if (delete)
            {
                if (index >= 0)
                {
                    current.RemoveAt(index);
                }
            }
            else if (index < 0)
            {
                current.Add(item?.DeepClone());
            }
            else if (current[index] is JsonObject existing && item is JsonObject)
            {
                MergePatch(existing, item, strategic: true);
            }
            else
            {
                current[index] = item?.DeepClone();
            }
        }
    }

    /// <summary>Applies an RFC 6902 document to a copy of <paramref name="target"/>.</summary>
    public static JsonNode ApplyJsonPatch(JsonNode target, JsonNode? document)
    {
        if (document is not JsonArray operations)
        {
            throw new PatchException("a JSON patch must be an array of operations", malformed: true);
        }

        var root = new JsonObject { ["root"] = target.DeepClone() };
        foreach (var operation in operations)
        {
            var op = operation?["op"]?.GetValue<string>() ?? throw new PatchException("operation without \"op\"", malformed: true);
            var path = operation["path"]?.GetValue<string>() ?? throw new PatchException("operation without \"path\"", malformed: true);
            switch (op)
            {
                case "add":
                    Add(root, path, Value(operation));
                    break;
                case "remove":
                    Remove(root, path);
                    break;
                case "replace":
                    Remove(root, path);
                    Add(root, path, Value(operation));
                    break;
                case "test":
                    if (!JsonNode.DeepEquals(Resolve(root, path), operation["value"]))
                    {
                        throw new PatchException($"testing value {path} failed");
                    }

                    break;
                case "move":
                    {
                        var from = From(operation);
                        var moved = Remove(root, from);
                        Add(root, path, moved);
                        break;
                    }

                case "copy":
                    Add(root, path, Resolve(root, From(operation))?.DeepClone());
                    break;
                default:
                    throw new PatchException($"unknown JSON patch operation \"{op}\"", malformed: true);
            }
        }

        return root["root"] ?? throw new PatchException("the patch removed the whole object");
    }

    private static JsonNode? Value(JsonNode operation) =>
        operation.AsObject().TryGetPropertyValue("value", out var value)
            ? value?.DeepClone()
            : throw new PatchException("operation without \"value\"", malformed: true);

    private static string From(JsonNode operation) =>
        operation["from"]?.GetValue<string>() ?? throw new PatchException("operation without \"from\"", malformed: true);

    private static (JsonNode Parent, string Token) Parent(JsonObject root, string pointer)
    {
        if (pointer.Length > 0 && pointer[0] != '/')
        {
            throw new PatchException($"invalid JSON pointer {pointer}", malformed: true);
        }

        var tokens = pointer.Length == 0
            ? ["root"]
            : pointer[1..].Split('/').Select(t => t.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal)).Prepend("root").ToArray();
        JsonNode current = root;
        foreach (var token in tokens[..^1])
        {
            current = Child(current, token) ?? throw new PatchException($"path {pointer} does not exist");
        }

        return (current, tokens[^1]);
    }

    private static JsonNode? Child(JsonNode node, string token) => node switch
    {
        JsonObject o => o[token],
        JsonArray a when int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i < a.Count => a[i],
        _ => null,
    };

    private static JsonNode? Resolve(JsonObject root, string pointer)
    {
        var (parent, token) = Parent(root, pointer);
        return Child(parent, token);
    }

    private static void Add(JsonObject root, string pointer, JsonNode? value)
    {
        var (parent, token) = Parent(root, pointer);
        switch (parent)
        {
            case JsonObject o:
                o[token] = value;
                break;
            case JsonArray a when token == "-":
                a.Add(value);
                break;
            case JsonArray a when int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i <= a.Count:
                a.Insert(i, value);
                break;
            default:
                throw new PatchException($"cannot add at {pointer}");
        }
    }

    private static JsonNode? Remove(JsonObject root, string pointer)
    {
        var (parent, token) = Parent(root, pointer);
        switch (parent)
        {
            case JsonObject o when o.ContainsKey(token):
                var value = o[token];
                o.Remove(token);
                return value;
            case JsonArray a when int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i < a.Count:
                var item = a[i];
                a.RemoveAt(i);
                return item;
            default:
                throw new PatchException($"path {pointer} does not exist");
        }
    }
}
