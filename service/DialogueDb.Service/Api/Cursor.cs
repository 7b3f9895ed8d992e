using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace DialogueDb.Service.Api;

/// <summary>A keyset position: the sort key of the last item of the previous page.</summary>
internal readonly record struct Cursor(bool Descending, long Key, string Id)
{
    private const string Version = "1";

    /// <summary>Opaque to clients: base64url of "1|a|d, key, id".</summary>
    public string Encode() =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes(
            string.Create(CultureInfo.InvariantCulture, $"{Version}|{(Descending ? 'd' : 'a')}|{Key}|{Id}")));

    public static bool TryDecode(string text, out Cursor cursor)
    {
        cursor = default;
        if (text.Length > 512)
        {
            return false;
        }

        string decoded;
        try
        {
            decoded = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(text));
        }
        catch (FormatException)
        {
            return false;
        }

        var parts = decoded.Split('|');
        if (parts.Length != 4 || parts[0] != Version || parts[1] is not ("a" or "d")
            || !long.TryParse(parts[2], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var key)
            || (parts[3].Length > 0 && !InputRules.IsValidId(parts[3])))
        {
            return false;
        }

        cursor = new Cursor(parts[1] == "d", key, parts[3]);
        return true;
    }
}
