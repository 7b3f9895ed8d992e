using System.Text;
using System.Text.Json;

namespace DialogueDb.Service.Search;

/// <summary>What of an item is searched: the words a person would search for, never image data or block plumbing.</summary>
internal static class SearchText
{
    /// <summary>A message's content (compact JSON): a string itself; content blocks contribute their text parts.</summary>
    public static string OfMessage(string contentJson)
    {
        using var document = JsonDocument.Parse(contentJson);
        var builder = new StringBuilder();
        AppendBlocks(builder, document.RootElement);
        return builder.ToString().Trim();
    }

    /// <summary>A memory: its label, description and value (strings of an object or array, with the object's keys).</summary>
    public static string OfMemory(string valueJson, string? label, string? description)
    {
        var builder = new StringBuilder();
        AppendLine(builder, label);
        AppendLine(builder, description);
        using var document = JsonDocument.Parse(valueJson);
        AppendValue(builder, document.RootElement);
        return builder.ToString().Trim();
    }

    /// <summary>True when message content holds an image part (Anthropic <c>image</c> or OpenAI <c>image_url</c>).</summary>
    public static bool HasImage(JsonElement content) => content.ValueKind switch
    {
        JsonValueKind.Array => content.EnumerateArray().Any(HasImage),
        JsonValueKind.Object => content.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String
            && type.GetString() is "image" or "image_url",
        _ => false,
    };

    private static void AppendBlocks(StringBuilder builder, JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                AppendLine(builder, element.GetString());
                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    AppendBlocks(builder, item);
                }

                break;
            case JsonValueKind.Object:
                foreach (var name in (string[])["text", "content", "input", "output"])
                {
                    if (element.TryGetProperty(name, out var part))
                    {
                        AppendBlocks(builder, part);
                    }
                }

                break;
        }
    }

    private static void AppendValue(StringBuilder builder, JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                AppendLine(builder, element.GetString());
                break;
            case JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False:
                AppendLine(builder, element.GetRawText());
                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    AppendValue(builder, item);
                }

                break;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    builder.Append(property.Name.Replace('_', ' ')).Append(": ");
                    AppendValue(builder, property.Value);
                }

                break;
        }
    }

    private static void AppendLine(StringBuilder builder, string? text)
    {
        if (!string.IsNullOrWhiteSpace(text))
        {
            builder.Append(text).Append('\n');
        }
    }
}
