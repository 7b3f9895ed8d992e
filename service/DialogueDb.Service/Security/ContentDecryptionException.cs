namespace DialogueDb.Service.Security;

/// <summary>A stored ciphertext that cannot be decrypted: never answered with wrong plaintext.</summary>
internal class ContentDecryptionException(string reason) : Exception("Stored content could not be decrypted: " + reason);
