using System.Collections.Frozen;
using System.Text;

namespace DialogueDb.Service.Search;

/// <summary>
/// Unicode NFKC normalisation (compatibility decomposition, canonical ordering, canonical composition; UAX #15) over the
/// tables of Nfkc.Tables.cs. The service runs with invariant globalization, where <see cref="string.Normalize()"/>
/// returns non-ASCII text unchanged (it has no ICU data), so the blind index normalises here: full-width letters,
/// ligatures, superscripts, circled and other compatibility digits, mathematical letters and half-width kana meet their
/// plain forms.
/// </summary>
internal static partial class Nfkc
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private static readonly FrozenDictionary<int, int[]> Decomposition = ParseDecompositions();
    private static readonly FrozenDictionary<int, int> CombiningClass = ParseClasses();
    private static readonly FrozenDictionary<long, int> Composition = ParseCompositions();

    public static string Normalize(string text)
    {
        if (System.Text.Ascii.IsValid(text))
        {
            return text;
        }

        var points = new List<int>(text.Length + 8);
        foreach (var rune in text.EnumerateRunes())
        {
            Decompose(rune.Value, points);
        }

        Reorder(points);
        Compose(points);
        var builder = new StringBuilder(points.Count);
        foreach (var point in points)
        {
            builder.Append(new Rune(point).ToString());
        }

        return builder.ToString();
    }

    private static void Decompose(int point, List<int> into)
    {
        if (point is >= SBase and < SBase + SCount)
        {
            var s = point - SBase;
            into.Add(LBase + s / NCount);
            into.Add(VBase + s % NCount / TCount);
            if (s % TCount != 0)
            {
                into.Add(TBase + s % TCount);
            }
        }
        else if (Decomposition.TryGetValue(point, out var full))
        {
            into.AddRange(full);
        }
        else
        {
            into.Add(point);
        }
    }

    private static int ClassOf(int point) => CombiningClass.GetValueOrDefault(point);

    /// <summary>Canonical ordering: each run of combining marks stably sorted by class.</summary>
    private static void Reorder(List<int> points)
    {
        for (var i = 1; i < points.Count; i++)
        {
            var ccc = ClassOf(points[i]);
            if (ccc == 0)
            {
                continue;
            }

            for (var j = i; j > 0 && ClassOf(points[j - 1]) > ccc; j--)
            {
                (points[j - 1], points[j]) = (points[j], points[j - 1]);
            }
        }
    }

    /// <summary>Canonical composition: each mark joins the last starter unless a mark of the same or no class is between them.</summary>
    private static void Compose(List<int> points)
    {
        if (points.Count < 2)
        {
            return;
        }

        var starter = ClassOf(points[0]) == 0 ? 0 : -1;
        var lastClass = starter == 0 ? 0 : 256;
        var write = 1;
        for (var read = 1; read < points.Count; read++)
        {
            var point = points[read];
            var ccc = ClassOf(point);
            if (starter >= 0 && (lastClass < ccc || (lastClass == 0 && write - 1 == starter))
                && TryCompose(points[starter], point) is { } composed)
            {
                points[starter] = composed;
                continue;
            }

            if (ccc == 0)
            {
                starter = write;
            }

            lastClass = ccc;
            points[write++] = point;
        }

        points.RemoveRange(write, points.Count - write);
    }

    private static int? TryCompose(int first, int second)
    {
        if (first is >= LBase and < LBase + LCount && second is >= VBase and < VBase + VCount)
        {
            return SBase + ((first - LBase) * VCount + second - VBase) * TCount;
        }

        if (first is >= SBase and < SBase + SCount && (first - SBase) % TCount == 0 && second is > TBase and < TBase + TCount)
        {
            return first + second - TBase;
        }

        return Composition.TryGetValue(((long)first << 21) | (uint)second, out var composite) ? composite : null;
    }

    private static int[] Points(string s) => [.. s.EnumerateRunes().Select(r => r.Value)];

    private static FrozenDictionary<int, int[]> ParseDecompositions()
    {
        var map = new Dictionary<int, int[]>();
        foreach (var entry in Decompositions.Split('\0', StringSplitOptions.RemoveEmptyEntries))
        {
            var points = Points(entry);
            map[points[0]] = points[1..];
        }

        return map.ToFrozenDictionary();
    }

    private static FrozenDictionary<int, int> ParseClasses()
    {
        var map = new Dictionary<int, int>();
        var points = Points(CombiningClasses);
        for (var i = 0; i < points.Length; i += 2)
        {
            map[points[i]] = points[i + 1];
        }

        return map.ToFrozenDictionary();
    }

    private static FrozenDictionary<long, int> ParseCompositions()
    {
        var map = new Dictionary<long, int>();
        var points = Points(Compositions);
        for (var i = 0; i < points.Length; i += 3)
        {
            map[((long)points[i] << 21) | (uint)points[i + 1]] = points[i + 2];
        }

        return map.ToFrozenDictionary();
    }
}
