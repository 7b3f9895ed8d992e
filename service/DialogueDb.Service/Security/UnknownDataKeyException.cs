namespace DialogueDb.Service.Security;

/// <summary>
/// A ciphertext under a data key this process does not have, even after re-reading the key ring: during a rotation a
/// replica's Secret volume can lag behind another's. Answered 503 (retry), never 500; the data is not lost.
/// </summary>
internal sealed class UnknownDataKeyException(uint keyId) : ContentDecryptionException($"data key {keyId} is not in the key ring")
{
    public uint KeyId { get; } = keyId;
}
