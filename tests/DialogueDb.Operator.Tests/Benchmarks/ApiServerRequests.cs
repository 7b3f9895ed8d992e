using System.Globalization;

namespace DialogueDb.Operator.Tests.Benchmarks;

/// <summary>One kind of request the API server counted: verb, resource (and subresource), and whether it sent it itself.</summary>
internal readonly record struct RequestKind(string Verb, string Resource, string Subresource, bool ByApiServer)
{
    public override string ToString() =>
        $"{Verb} {Resource}{(Subresource.Length > 0 ? "/" + Subresource : "")}{(ByApiServer ? " (by the kube-apiserver)" : "")}";
}

/// <summary>The API server's own request counter (<c>apiserver_request_total</c>), read from its /metrics.</summary>
internal static class ApiServerRequests
{
    private static readonly string[] WriteVerbs = ["POST", "PUT", "PATCH", "DELETE", "APPLY"];

    /// <summary>
    /// apiserver_request_total summed by verb, resource (with subresource) and whether the kube-apiserver sent it itself
    /// (label <c>system_client="kube-apiserver"</c>: its identity Lease, its bootstrap objects); every other client is
    /// counted, and in the resync window only the operator talks.
    /// </summary>
    public static async Task<Dictionary<RequestKind, long>> CountAsync(k8s.Kubernetes client, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(client.BaseUri, "/metrics"));
        await client.Credentials!.ProcessHttpRequestAsync(request, ct);
        using var response = await client.HttpClient.SendAsync(request, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        var counts = new Dictionary<RequestKind, long>();
        foreach (var line in text.Split('\n').Where(l => l.StartsWith("apiserver_request_total{", StringComparison.Ordinal)))
        {
            string Label(string name)
            {
                var start = line.IndexOf(name + "=\"", StringComparison.Ordinal);
                if (start < 0)
                {
                    return "";
                }

                var value = line[(start + name.Length + 2)..];
                return value[..value.IndexOf('"', StringComparison.Ordinal)];
            }

            var kind = new RequestKind(Label("verb"), Label("resource"), Label("subresource"), Label("system_client") == "kube-apiserver");
            var count = (long)double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
            counts[kind] = counts.GetValueOrDefault(kind) + count;
        }

        return counts;
    }

    public static bool IsWrite(RequestKind kind) => WriteVerbs.Contains(kind.Verb, StringComparer.Ordinal);

    public static List<KeyValuePair<RequestKind, long>> Difference(
        Dictionary<RequestKind, long> after, Dictionary<RequestKind, long> before) =>
        [.. after.Select(c => KeyValuePair.Create(c.Key, c.Value - before.GetValueOrDefault(c.Key))).Where(c => c.Value != 0)];

    public static string Describe(IEnumerable<KeyValuePair<RequestKind, long>> counts)
    {
        var text = string.Join(", ", counts.OrderBy(c => c.Key.ToString(), StringComparer.Ordinal).Select(c => $"{c.Key} {c.Value}"));
        return text.Length == 0 ? "none" : text;
    }
}
