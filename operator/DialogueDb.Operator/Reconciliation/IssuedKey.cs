namespace DialogueDb.Operator.Reconciliation;

/// <summary>An API key as issued into its Secret: the current key's id and hash, and the previous key's while its grace lasts.</summary>
internal sealed record IssuedKey(
    string Name, string Scope, int Rotation, string KeyId, string Hash, DateTime? IssuedAt,
    string? PreviousKeyId, string? PreviousHash, DateTimeOffset? PreviousValidUntil);
