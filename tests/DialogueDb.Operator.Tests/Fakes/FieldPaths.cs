using System.Text.Json.Nodes;

namespace DialogueDb.Operator.Tests.Fakes;

/// <summary>Which part of an object a write may touch: a main-resource write on a kind with a status subresource
/// never touches status, a /status write touches only status.</summary>
internal enum WriteScope
{
    All,
    Main,
    Status,
}

/// <summary>
/// Field paths in the style of structured-merge-diff, as flat strings: segments <c>f:name</c> (object field),
/// <c>k:key=json</c> (item of a map-list) and <c>v:json</c> (item of a set-list), joined by U+001F.
/// A field set holds the leaves (scalars, atomic lists, empty objects) plus the items of keyed lists, so that an item
/// stays while any manager owns something in it.
/// </summary>
internal static class FieldPaths
{
    public const char Separator = '\u001f';

    /// <summary>Lists merged by key (by field name only; the real server knows per-type schemas). An empty key marks a
    /// set of scalars. A list whose items lack the key is treated as atomic.</summary>
    private static readonly Dictionary<string, string> ListKeys = new(StringComparer.Ordinal)
    {
        ["finalizers"] = "",
        ["ownerReferences"] = "uid",
        ["conditions"] = "type",
        ["apiKeys"] = "name",
        ["containers"] = "name",
        ["initContainers"] = "name",
        ["ephemeralContainers"] = "name",
        ["env"] = "name",
        ["ports"] = "name",
        ["volumes"] = "name",
        ["volumeMounts"] = "mountPath",
        ["imagePullSecrets"] = "name",
    };

    /// <summary>Metadata the server owns; never part of a field set (as in the real field manager).</summary>
    private static readonly HashSet<string> SystemMetadata = new(StringComparer.Ordinal)
    {
        "name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
        "deletionGracePeriodSeconds", "managedFields", "selfLink",
    };

    public static bool IsSystemMetadata(string field) => SystemMetadata.Contains(field);

    /// <summary>The key of a keyed list ("" for a set), or null when the list is atomic.</summary>
    public static string? ListKeyOf(string fieldName, params JsonArray[] lists)
    {
        if (!ListKeys.TryGetValue(fieldName, out var key))
        {
            return null;
        }

        foreach (var list in lists)
        {
            foreach (var item in list)
            {
                var fits = key.Length == 0 ? item is JsonValue : item is JsonObject o && o[key] is JsonValue;
                if (!fits)
                {
                    return null;
                }
            }
        }

        return key;
    }

    public static int IndexOfItem(JsonArray list, JsonNode? item, string key)
    {
        var wanted = key.Length == 0 ? item : item?[key];
        for (var i = 0; i < list.Count; i++)
        {
            var candidate = key.Length == 0 ? list[i] : list[i]?[key];
            if (JsonNode.DeepEquals(candidate, wanted))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>The field set of <paramref name="obj"/> within <paramref name="scope"/>, each path with its value.</summary>
    public static Dictionary<string, JsonNode?> Collect(JsonObject obj, WriteScope scope)
    {
        var into = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        foreach (var (name, value) in obj)
        {
            if (name is "apiVersion" or "kind" || !InScope(name, scope))
            {
                continue;
            }

            if (name == "metadata" && value is JsonObject metadata)
            {
                foreach (var (field, fieldValue) in metadata)
                {
                    if (!IsSystemMetadata(field))
                    {
                        Walk(fieldValue, "f:metadata" + Separator + "f:" + field, field, into);
                    }
                }

                continue;
            }

            Walk(value, "f:" + name, name, into);
        }

        return into;
    }

    public static bool InScope(string topLevelField, WriteScope scope) => scope switch
    {
        WriteScope.Main => topLevelField != "status",
        WriteScope.Status => topLevelField == "status",
        _ => true,
    };

    private static void Walk(JsonNode? node, string path, string fieldName, Dictionary<string, JsonNode?> into)
    {
        switch (node)
        {
            case JsonObject o when o.Count > 0:
                foreach (var (name, value) in o)
                {
                    Walk(value, path + Separator + "f:" + name, name, into);
                }

                break;
            case JsonArray a when a.Count > 0 && ListKeyOf(fieldName, a) is { } key:
                foreach (var item in a)
                {
                    if (key.Length == 0)
                    {
                        into[path + Separator + "v:" + item!.ToJsonString()] = item;
                    }
                    else
                    {
                        var itemPath = path + Separator + "k:" + key + "=" + item![key]!.ToJsonString();
                        into[itemPath] = item;
                        foreach (var (name, value) in item.AsObject())
                        {
                            Walk(value, itemPath + Separator + "f:" + name, name, into);
                        }
                    }
                }

                break;
            default:
                into[path] = node;
                break;
        }
    }

    /// <summary>True for the path of a keyed-list item, whose "value" is the whole item and never conflicts.</summary>
    public static bool IsItem(string path)
    {
        var last = path.LastIndexOf(Separator);
        return path.AsSpan(last + 1).StartsWith("k:", StringComparison.Ordinal);
    }

    /// <summary>Dotted form for messages, e.g. <c>.spec.replicas</c> or <c>.spec.containers[name="app"].image</c>.</summary>
    public static string Describe(string path) =>
        string.Concat(path.Split(Separator).Select(segment => segment[..2] switch
        {
            "f:" => "." + segment[2..],
            "k:" => "[" + segment[2..] + "]",
            _ => "[" + segment[2..] + "]",
        }));

    /// <summary>Removes the field at <paramref name="path"/> from <paramref name="root"/>, then the containers it
    /// leaves empty unless <paramref name="keep"/> says someone owns them (metadata itself always stays).</summary>
    public static void Remove(JsonObject root, string path, Func<string, bool> keep)
    {
        var segments = path.Split(Separator);
        for (var length = segments.Length; length >= 1; length--)
        {
            var parent = Navigate(root, segments.AsSpan(0, length - 1));
            if (parent is null)
            {
                return;
            }

            if (length < segments.Length)
            {
                var container = Step(parent, segments[length - 1]);
                var prefix = string.Join(Separator, segments[..length]);
                var empty = container is JsonObject { Count: 0 } || container is JsonArray { Count: 0 };
                if (!empty || keep(prefix) || prefix == "f:metadata")
                {
                    return;
                }
            }

            RemoveStep(parent, segments[length - 1]);
        }
    }

    private static JsonNode? Navigate(JsonNode root, ReadOnlySpan<string> segments)
    {
        JsonNode? current = root;
        foreach (var segment in segments)
        {
            if (current is null)
            {
                return null;
            }

            current = Step(current, segment);
        }

        return current;
    }

    private static JsonNode? Step(JsonNode node, string segment)
    {
        if (segment.StartsWith("f:", StringComparison.Ordinal))
        {
            return node is JsonObject o ? o[segment[2..]] : null;
        }

        return node is JsonArray a && IndexOf(a, segment) is var i and >= 0 ? a[i] : null;
    }

    private static void RemoveStep(JsonNode parent, string segment)
    {
        if (segment.StartsWith("f:", StringComparison.Ordinal))
        {
            (parent as JsonObject)?.Remove(segment[2..]);
        }
        else if (parent is JsonArray a && IndexOf(a, segment) is var i and >= 0)
        {
            a.RemoveAt(i);
        }
    }

    private static int IndexOf(JsonArray list, string segment)
    {
        if (segment.StartsWith("v:", StringComparison.Ordinal))
        {
            return IndexOfItem(list, JsonNode.Parse(segment[2..]), "");
        }

        var equals = segment.IndexOf('=', StringComparison.Ordinal);
        var key = segment[2..equals];
        return IndexOfItem(list, new JsonObject { [key] = JsonNode.Parse(segment[(equals + 1)..]) }, key);
    }

    /// <summary>Merges an apply configuration into the live object: objects field by field, keyed lists item by item,
    /// everything else replaced.</summary>
    public static void MergeApply(JsonObject target, JsonObject config)
    {
        foreach (var (name, value) in config)
        {
            var existing = target[name];
            if (value is null)
            {
                target.Remove(name);
            }
            else if (value is JsonObject configObject && existing is JsonObject targetObject)
            {
                MergeApply(targetObject, configObject);
            }
            else if (value is JsonArray configList && existing is JsonArray targetList && ListKeyOf(name, targetList, configList) is { } key)
            {
                foreach (var item in configList)
                {
                    var index = IndexOfItem(targetList, item, key);
                    if (index < 0)
                    {
                        targetList.Add(item?.DeepClone());
                    }
                    else if (targetList[index] is JsonObject targetItem && item is JsonObject configItem)
                    {
                        MergeApply(targetItem, configItem);
                    }
                }
            }
            else
            {
                target[name] = value.DeepClone();
            }
        }
    }
}
