using System.Globalization;

namespace DialogueDb.Service.RateLimiting;

/// <summary>
/// The invariant text of a number that usually repeats from one call to the next (a header value such as the rate
/// limit or the reset second): formatted once per change instead of once per request. Safe across threads: the
/// last number and its text are published together as one immutable object.
/// </summary>
internal sealed class NumberText
{
    private Entry _last = new(0, "0");

    public string Of(long value)
    {
        var last = Volatile.Read(ref _last);
        if (last.Value == value)
        {
            return last.Text;
        }

        var text = value.ToString(CultureInfo.InvariantCulture);
        Volatile.Write(ref _last, new Entry(value, text));
        return text;
    }

    private sealed record Entry(long Value, string Text);
}
