namespace DialogueDb.Service.Api;

/// <summary>One entry of <c>error.details</c>; plan limits also name the limit, the amount used and the period.</summary>
internal sealed record FieldError(string Field, string Code, string Message)
{
    public long? Limit { get; init; }

    public long? Used { get; init; }

    public string? Period { get; init; }
}
