namespace DialogueDb.Operator.Provisioning;

/// <summary>What the provisioners accept as a password (the operator generates them; see the Secret).</summary>
internal static class Passwords
{
    /// <summary>The rule, for exception messages: they describe what is wrong, never the password itself.</summary>
    public const string Rule = "A password must be 1 to 1024 printable ASCII characters without spaces.";

    /// <summary>
    /// Printable ASCII only: SASLprep (which PostgreSQL and its clients apply before SCRAM hashing) leaves such a
    /// password unchanged, so a verifier computed here matches what every client computes; no spaces, so the
    /// password survives connection strings and URLs unquoted.
    /// </summary>
    public static bool IsSupported(string? password) =>
        password is { Length: > 0 and <= 1024 } && password.All(c => c is >= '!' and <= '~');
}
