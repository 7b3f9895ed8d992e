namespace DialogueDb.Operator.Reconciliation;

/// <summary>A value the pods read from a Secret key.</summary>
internal sealed record SecretValue(string SecretName, string Key);
