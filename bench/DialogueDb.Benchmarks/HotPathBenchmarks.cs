using System.Buffers;
using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using DialogueDb.Service.Api;
using DialogueDb.Service.Api.Messages;
using DialogueDb.Service.Security;
using DialogueDb.Service.Storage;

namespace DialogueDb.Benchmarks;

/// <summary>AES-256-GCM of a ~1 KB message content, with the row identity as associated data (every append and read).</summary>
[MemoryDiagnoser]
public class ContentEncryption
{
    private readonly ContentProtector _protector = new(EncryptionKeyRing.NewRing(), "bench");
    private readonly RowIdentity _row = RowIdentity.MessageContent("", "01JBENCHDIALOGUE0000000000", "01JBENCHMESSAGE00000000000");
    private readonly string _content = JsonSerializer.Serialize(new string('x', 1000));
    private byte[] _ciphertext = [];

    [GlobalSetup]
    public void Setup() => _ciphertext = _protector.Encrypt(_content, _row);

    [Benchmark]
    public byte[] Encrypt1KB() => _protector.Encrypt(_content, _row);

    [Benchmark]
    public byte[] Decrypt1KB() => _protector.Decrypt(_ciphertext, _row);
}

/// <summary>The per-request key check: the format/checksum gate (no lookup) and the HMAC compare against the stored hash.</summary>
[MemoryDiagnoser]
public class ApiKeyVerification
{
    private readonly ApiKeyHasher _hasher = new(ApiKeyHasher.NewHashSecret());
    private string _key = "";
    private string _hash = "";

    [GlobalSetup]
    public void Setup()
    {
        (_, _key) = ApiKeyHasher.NewKey();
        _hash = _hasher.Hash(_key);
    }

    [Benchmark]
    public string? KeyIdOf() => ApiKeyHasher.KeyIdOf(_key);

    [Benchmark]
    public bool Matches() => _hasher.Matches(_key, _hash);
}

/// <summary>The keyset cursor written on every page and parsed on every next-page request.</summary>
[MemoryDiagnoser]
public class CursorCoding
{
    private readonly string _encoded = new Cursor(false, 1_234_567, "01JBENCHMESSAGE00000000000").Encode();

    [Benchmark]
    public string Encode() => new Cursor(false, 1_234_567, "01JBENCHMESSAGE00000000000").Encode();

    [Benchmark]
    public bool Decode() => Cursor.TryDecode(_encoded, out _);
}

/// <summary>
/// A message's JSON both ways: validating one input object (the append path, after the body is parsed) and writing one
/// stored message (the list path, decryption included since the writer decrypts in place).
/// </summary>
[MemoryDiagnoser]
public class MessageJsonCoding
{
    private readonly ContentProtector _protector = new(EncryptionKeyRing.NewRing(), "bench");
    private static readonly string[] Tags = ["bench", "hot-path"];
    private readonly ArrayBufferWriter<byte> _buffer = new(4096);
    private byte[] _input = [];
    private MessageRow _row = null!;

    [GlobalSetup]
    public void Setup()
    {
        _input = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["role"] = "user",
            ["content"] = new string('x', 1000),
            ["tags"] = Tags,
            ["metadata"] = new Dictionary<string, string> { ["source"] = "benchmark" },
        }));
        using var document = JsonDocument.Parse(_input);
        var input = MessageInput.Parse(document.RootElement, "", new InputRules())
            ?? throw new InvalidOperationException("the benchmark message must be valid");
        _row = input.ToRow("", "01JBENCHDIALOGUE0000000000", 1, 1_700_000_000_000, TimeProvider.System, _protector);
    }

    [Benchmark]
    public bool ReadInput()
    {
        using var document = JsonDocument.Parse(_input);
        return MessageInput.Parse(document.RootElement, "", new InputRules()) is not null;
    }

    [Benchmark]
    public int WriteMessage()
    {
        _buffer.ResetWrittenCount();
        using var writer = new Utf8JsonWriter(_buffer);
        MessageJson.Write(writer, _row, _protector);
        writer.Flush();
        return _buffer.WrittenCount;
    }
}
