using System.Buffers.Binary;

namespace DialogueDb.Service.Search;

/// <summary>
/// One term of the blind keyword index as the index holds it: the first <see cref="BlindTokenKey.TokenLength"/> bytes of
/// the term's HMAC, as two integers (compared and hashed without an array; the HMAC's bits are uniform, so its low word
/// is a good hash).
/// </summary>
internal readonly struct BlindToken(ulong high, ulong low) : IEquatable<BlindToken>
{
    public const int Length = 16;

    public ulong High { get; } = high;

    public ulong Low { get; } = low;

    public static BlindToken Read(ReadOnlySpan<byte> bytes) =>
        new(BinaryPrimitives.ReadUInt64BigEndian(bytes), BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]));

    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, High);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], Low);
    }

    public bool Equals(BlindToken other) => High == other.High && Low == other.Low;

    public override bool Equals(object? obj) => obj is BlindToken other && Equals(other);

    public override int GetHashCode() => (int)Low;

    public static bool operator ==(BlindToken left, BlindToken right) => left.Equals(right);

    public static bool operator !=(BlindToken left, BlindToken right) => !left.Equals(right);
}
