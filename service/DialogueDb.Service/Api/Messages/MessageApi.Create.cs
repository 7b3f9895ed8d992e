using System.Text.Json;
using DialogueDb.Service.Api.Dialogues;
using DialogueDb.Service.Audit;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;
using Microsoft.EntityFrameworkCore;

namespace DialogueDb.Service.Api.Messages;

/// <summary>The create routes (one message, a batch, the legacy route): parsing the input and handing it to the appender.</summary>
internal static partial class MessageApi
{
    private const int MaxBatch = 100;

    // The append handlers take no EF Core context: on PostgreSQL the append is raw Npgsql, and resolving (and disposing)
    // a context per request was measurable on the hot path; the SQLite append asks the request's services for one.

    /// <summary>POST /message: one message; dialogueId and namespace from the query, else the body.</summary>
    private static Task<IResult> CreateOneAsync(ApiRequest request, MessageAppender appender, CancellationToken ct) =>
        CreateCoreAsync(request, appender, pathDialogueId: null, allowBatch: false, ct);

    /// <summary>POST /messages: an array is an atomic batch answered with an array; an object is one message.</summary>
    private static Task<IResult> CreateAsync(ApiRequest request, MessageAppender appender, CancellationToken ct) =>
        CreateCoreAsync(request, appender, pathDialogueId: null, allowBatch: true, ct);

    private static Task<IResult> CreateLegacyAsync(string dialogueId, ApiRequest request, MessageAppender appender, CancellationToken ct) =>
        CreateCoreAsync(request, appender, dialogueId, allowBatch: true, ct);

    private static async Task<IResult> CreateCoreAsync(ApiRequest request, MessageAppender appender,
        string? pathDialogueId, bool allowBatch, CancellationToken ct)
    {
        if (request.IsEmpty)
        {
            return ApiErrors.Missing("body");
        }

        var root = request.Root;
        var batch = root.ValueKind == JsonValueKind.Array;
        if (batch && !allowBatch)
        {
            return ApiErrors.Invalid("body", "must be a message object; send arrays to POST /messages");
        }

        if (!batch && root.ValueKind != JsonValueKind.Object)
        {
            return ApiErrors.Invalid("body", "must be a message object or an array of messages");
        }

        var rules = new InputRules();
        var dialogueId = pathDialogueId ?? DialogueIdFrom(request.Query, batch ? null : root, rules);
        var inputs = batch ? ParseBatch(root, rules) : MessageInput.Parse(root, "", rules) is { } one ? [one] : [];
        if (rules.HasErrors || dialogueId is null)
        {
            return rules.ToError();
        }

        var (messages, error) = await appender.AppendAsync(request.Http.RequestServices, request.Actor, request.Namespace, dialogueId, inputs, ct);
        if (messages is null)
        {
            return error!;
        }

        return batch
            ? new JsonPayload(w =>
            {
                w.WriteStartArray();
                foreach (var message in messages)
                {
                    MessageJson.Write(w, message.Row, message.Content, message.Name);
                }

                w.WriteEndArray();
            })
            : new JsonPayload(w => MessageJson.Write(w, messages[0].Row, messages[0].Content, messages[0].Name));
    }

    private static List<MessageInput> ParseBatch(JsonElement array, InputRules rules)
    {
        var inputs = new List<MessageInput>();
        if (array.GetArrayLength() == 0)
        {
            rules.Missing("messages");
        }
        else if (array.GetArrayLength() > MaxBatch)
        {
            rules.Invalid("messages", $"a batch holds at most {MaxBatch} messages");
        }
        else
        {
            var index = 0;
            foreach (var element in array.EnumerateArray())
            {
                if (MessageInput.Parse(element, $"messages[{index}]", rules) is { } input)
                {
                    inputs.Add(input);
                }

                index++;
            }
        }

        return inputs;
    }
}
