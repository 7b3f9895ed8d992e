using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using k8s;
using k8s.Models;

namespace DialogueDb.Service.Tests.Infrastructure;

/// <summary>
/// The part of the Kubernetes API the service uses, in memory: reading one Secret and watching it (with a field
/// selector on its name). Plugged into the real KubernetesClient as its terminal HTTP handler, so the client's own
/// request building, watch-stream parsing and error handling are what is tested. As the API server does, a watch opened
/// with a resource version first receives the changes made after that version (a change made between the client's read
/// and its watch is not lost).
/// </summary>
public sealed class FakeKubernetesSecrets : DelegatingHandler
{
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Ns, string Name), V1Secret> _secrets = [];
    private readonly List<Pipe> _watches = [];
    private readonly List<(long Version, byte[] Line)> _events = [];
    private long _resourceVersion = 100;

    public int WatchRequests { get; private set; }

    public IKubernetes Client() => new Kubernetes(new KubernetesClientConfiguration { Host = "http://fake-apiserver" }, this);

    public Task PutAsync(string ns, string name, string key, string value)
    {
        lock (_lock)
        {
            var type = _secrets.ContainsKey((ns, name)) ? "MODIFIED" : "ADDED";
            var version = ++_resourceVersion;
            var secret = new V1Secret
            {
                ApiVersion = "v1",
                Kind = "Secret",
                Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns, ResourceVersion = version.ToString(CultureInfo.InvariantCulture) },
                Data = new Dictionary<string, byte[]> { [key] = Encoding.UTF8.GetBytes(value) },
            };
            _secrets[(ns, name)] = secret;
            var line = Encoding.UTF8.GetBytes(KubernetesJson.Serialize(new { type, @object = secret }) + "\n");
            _events.Add((version, line));
            foreach (var watch in _watches)
            {
                Send(watch, line);
            }
        }

        return Task.CompletedTask;
    }

    // Written under the lock so that every watch sees the changes in version order; the pipes never pause their writer.
    private static void Send(Pipe watch, byte[] line)
    {
        watch.Writer.WriteAsync(line).AsTask().GetAwaiter().GetResult();
    }

    /// <summary>Ends every open watch, as the API server does after its timeout; the client must re-open it.</summary>
    public async Task CloseWatchesAsync()
    {
        Pipe[] watches;
        lock (_lock)
        {
            watches = [.. _watches];
            _watches.Clear();
        }

        foreach (var watch in watches)
        {
            await watch.Writer.CompleteAsync();
        }
    }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var path = request.RequestUri!.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var query = request.RequestUri.Query;

        // /api/v1/namespaces/{ns}/secrets[/{name}]
        if (path.Length >= 5 && path[0] == "api" && path[1] == "v1" && path[2] == "namespaces" && path[4] == "secrets")
        {
            var ns = path[3];
            if (path.Length == 6)
            {
                lock (_lock)
                {
                    return Task.FromResult(_secrets.TryGetValue((ns, path[5]), out var secret)
                        ? Json(request, HttpStatusCode.OK, KubernetesJson.Serialize(secret))
                        : Json(request, HttpStatusCode.NotFound, """{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"""));
                }
            }

            if (query.Contains("watch=true", StringComparison.Ordinal))
            {
                var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
                var from = System.Web.HttpUtility.ParseQueryString(query)["resourceVersion"] is { Length: > 0 } rv
                    ? long.Parse(rv, CultureInfo.InvariantCulture) : long.MaxValue;
                lock (_lock)
                {
                    foreach (var (version, line) in _events.Where(e => e.Version > from))
                    {
                        Send(pipe, line);
                    }

                    _watches.Add(pipe);
                    WatchRequests++;
                }

                return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK)
                {
                    RequestMessage = request,
                    Content = new StreamContent(pipe.Reader.AsStream()),
                });
            }
        }

        return Task.FromResult(Json(request, HttpStatusCode.NotFound, """{"kind":"Status","code":404}"""));
    }

    private static HttpResponseMessage Json(HttpRequestMessage request, HttpStatusCode status, string json) => new(status)
    {
        RequestMessage = request,
        Content = new StringContent(json, Encoding.UTF8, "application/json"),
    };
}
