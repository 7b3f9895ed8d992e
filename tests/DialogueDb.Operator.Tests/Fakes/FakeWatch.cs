using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace DialogueDb.Operator.Tests.Fakes;

/// <summary>One open watch. Lines go into an unbounded channel so that a writer holding the store's lock never waits
/// for a slow reader; the response stream drains the channel.</summary>
internal sealed class FakeWatch
{
    private readonly Channel<byte[]> _lines = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Action<FakeWatch> _onClosed;
    private int _closed;

    public FakeWatch(ResourceKind kind, string? ns, LabelSelector labels, FieldSelector fields, bool bookmarks, bool hung, Action<FakeWatch> onClosed)
    {
        Kind = kind;
        Namespace = ns;
        Labels = labels;
        Fields = fields;
        Bookmarks = bookmarks;
        Hung = hung;
        _onClosed = onClosed;
        Stream = new WatchStream(this);
    }

    public ResourceKind Kind { get; }

    public string? Namespace { get; }

    public LabelSelector Labels { get; }

    public FieldSelector Fields { get; }

    public bool Bookmarks { get; }

    /// <summary>A hung watch never sends and is never ended by the server; only the client can close it.</summary>
    public bool Hung { get; }

    public ITimer? Timeout { get; set; }

    public Stream Stream { get; }

    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    public bool Matches(JsonObject obj) =>
        (Namespace is null || obj["metadata"]?["namespace"]?.GetValue<string>() == Namespace) && Labels.Matches(obj) && Fields.Matches(obj);

    public void Send(string type, JsonObject obj)
    {
        var line = new JsonObject { ["type"] = type, ["object"] = obj.DeepClone() }.ToJsonString() + "\n";
        _lines.Writer.TryWrite(Encoding.UTF8.GetBytes(line));
    }

    /// <summary>Ends the stream after the lines already queued (the client sees a normal end of stream).</summary>
    public void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        Timeout?.Dispose();
        _lines.Writer.TryComplete();
        _onClosed(this);
    }

    private sealed class WatchStream(FakeWatch watch) : Stream
    {
        private byte[] _current = [];
        private int _offset;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            while (_offset >= _current.Length)
            {
                try
                {
                    if (!await watch._lines.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        return 0;
                    }
                }
                catch (OperationCanceledException)
                {
                    // A client that stops reading has gone away, as when it drops the connection to a real server.
                    watch.Close();
                    throw;
                }

                if (watch._lines.Reader.TryRead(out var line))
                {
                    _current = line;
                    _offset = 0;
                }
            }

            var count = Math.Min(buffer.Length, _current.Length - _offset);
            _current.AsMemory(_offset, count).CopyTo(buffer);
            _offset += count;
            return count;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) =>
            ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                watch.Close();
            }

            base.Dispose(disposing);
        }
    }
}
