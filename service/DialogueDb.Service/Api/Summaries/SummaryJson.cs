using System.Text.Json;
using DialogueDb.Service.Security;
using DialogueDb.Service.Summaries;

namespace DialogueDb.Service.Api.Summaries;

internal static class SummaryJson
{
    /// <summary>The summary object of §10: every field present, null until known (content until completed).</summary>
    public static void Write(Utf8JsonWriter w, SummaryRow s, string projectId, ContentProtector protector)
    {
        w.WriteStartObject();
        w.WriteString("id", s.Id);
        w.WriteString("dialogueId", s.DialogueId);
        w.WriteString("projectId", projectId);
        w.WriteNamespace(s.Namespace);
        w.WriteString("status", s.Status);
        w.WriteString("provider", s.Provider);
        NullableString(w, "model", s.Model);
        w.WriteString("template", s.Template);
        if (s.Content is null)
        {
            w.WriteNull("content");
        }
        else
        {
            w.WriteString("content", protector.Decrypt(s.Content, RowIdentity.SummaryContent(s.Namespace, s.Id)));
        }

        NullableNumber(w, "contentTokenCount", s.ContentTokenCount);
        NullableTime(w, "fromCreated", s.FromCreated);
        NullableTime(w, "toCreated", s.ToCreated);
        NullableNumber(w, "messageCount", s.MessageCount);
        NullableNumber(w, "summarizedCount", s.SummarizedCount);
        NullableNumber(w, "skippedCount", s.SkippedCount);
        if (s.ErrorCode is null)
        {
            w.WriteNull("error");
        }
        else
        {
            w.WriteStartObject("error");
            w.WriteString("code", s.ErrorCode);
            w.WriteString("message", s.ErrorMessage ?? s.ErrorCode);
            w.WriteEndObject();
        }

        w.WriteString("created", Timestamps.Format(s.Created));
        w.WriteString("modified", Timestamps.Format(s.Modified));
        w.WriteEndObject();
    }

    private static void NullableString(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }

    private static void NullableNumber(Utf8JsonWriter w, string name, int? value)
    {
        if (value is { } number)
        {
            w.WriteNumber(name, number);
        }
        else
        {
            w.WriteNull(name);
        }
    }

    private static void NullableTime(Utf8JsonWriter w, string name, long? value)
    {
        if (value is { } time)
        {
            w.WriteString(name, Timestamps.Format(time));
        }
        else
        {
            w.WriteNull(name);
        }
    }
}
