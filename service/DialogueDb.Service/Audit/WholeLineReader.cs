using System.Text;

namespace DialogueDb.Service.Audit;

/// <summary>
/// Reads the lines another process appends to a file, each only once it is whole (ended by '\n'). The events file's
/// writer may be caught between two writes of one line; a <see cref="StreamReader"/> at the end of the file would
/// hand out that part as a line and the rest as another. Here the part waits, unread, until its end arrives.
/// </summary>
internal sealed class WholeLineReader(Stream stream)
{
    private const int ChunkBytes = 64 * 1024;
    private byte[] _pending = new byte[ChunkBytes];
    private int _start;
    private int _end;

    /// <summary>The next whole line without its '\n' (and '\r'), or null when none is whole yet.</summary>
    public async Task<string?> ReadLineAsync(CancellationToken ct)
    {
        while (true)
        {
            var newline = Array.IndexOf(_pending, (byte)'\n', _start, _end - _start);
            if (newline >= 0)
            {
                var length = newline - _start;
                if (length > 0 && _pending[newline - 1] == (byte)'\r')
                {
                    length--;
                }

                var line = Encoding.UTF8.GetString(_pending, _start, length);
                _start = newline + 1;
                return line;
            }

            MakeRoom();
            var read = await stream.ReadAsync(_pending.AsMemory(_end), ct);
            if (read == 0)
            {
                return null;
            }

            _end += read;
        }
    }

    /// <summary>Moves the unread part to the front, growing the buffer when a line is longer than it.</summary>
    private void MakeRoom()
    {
        var unread = _end - _start;
        if (_start > 0)
        {
            Buffer.BlockCopy(_pending, _start, _pending, 0, unread);
            _start = 0;
            _end = unread;
        }

        if (_pending.Length - _end < ChunkBytes / 4)
        {
            Array.Resize(ref _pending, _pending.Length * 2);
        }
    }
}
