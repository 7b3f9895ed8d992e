using System.Net;
using System.Net.Security;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace DialogueDb.LoadGen;

/// <summary>The two API calls the load needs, over one keep-alive connection pool sized to the writers.</summary>
internal sealed class ApiClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly X509Certificate2? _ca;
    private readonly string _nsQuery;
    private readonly byte[] _messageBody;
    private readonly byte[] _batchBody;
    private readonly int _listLimit;

    public ApiClient(LoadOptions options)
    {
        _ca = options.CaFile is null ? null : X509CertificateLoader.LoadCertificateFromFile(options.CaFile);
        var loopback = IPAddress.TryParse(options.BaseUrl.Host, out var ip) ? IPAddress.IsLoopback(ip) : options.BaseUrl.IsLoopback;
        var handler = new SocketsHttpHandler
        {
            // One connection per writer, kept open for the whole run: the run measures the service, not TLS handshakes.
            MaxConnectionsPerServer = options.Concurrency + 2,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, chain, errors) => Validate(certificate, errors, loopback),
            },
        };
        _http = new HttpClient(handler) { BaseAddress = options.BaseUrl, Timeout = TimeSpan.FromSeconds(30) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", options.ApiKey);
        _nsQuery = options.Namespace is null ? "" : "&namespace=" + Uri.EscapeDataString(options.Namespace);

        // Every append carries the same body; the service assigns the message id (a client id would add a lookup).
        var content = new string('x', options.ContentBytes);
        var message = new Dictionary<string, string> { ["role"] = "user", ["content"] = content };
        _messageBody = JsonSerializer.SerializeToUtf8Bytes(message);
        _batchBody = JsonSerializer.SerializeToUtf8Bytes(Enumerable.Repeat(message, options.Batch).ToArray());
        _listLimit = options.Limit;
    }

    /// <summary>
    /// Trusts the given CA (the service's generated tls/ca.crt) when there is one; without it, any certificate of a
    /// loopback server is accepted, since the service's self-signed one cannot be verified otherwise.
    /// </summary>
    private bool Validate(X509Certificate? certificate, SslPolicyErrors errors, bool loopback)
    {
        if (errors == SslPolicyErrors.None)
        {
            return true;
        }

        if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
        {
            return false;
        }

        if (_ca is null)
        {
            return loopback;
        }

        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(_ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var leaf = new X509Certificate2(certificate);
        return chain.Build(leaf);
    }

    public async Task<string> CreateDialogueAsync(string? ns, CancellationToken ct)
    {
        var body = ns is null ? "{}" : JsonSerializer.Serialize(new Dictionary<string, string> { ["namespace"] = ns });
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await _http.PostAsync(new Uri("api/v1/dialogue", UriKind.Relative), content, ct).ConfigureAwait(false);
        var text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"POST /dialogue answered {(int)response.StatusCode}: {text}");
        }

        using var document = JsonDocument.Parse(text);
        return document.RootElement.GetProperty("id").GetString()!;
    }

    /// <summary>Appends one message; returns the HTTP status and, on success, the new message's id.</summary>
    public async Task<(int Status, string? MessageId)> AppendAsync(string dialogueId, CancellationToken ct)
    {
        using var content = new ByteArrayContent(_messageBody);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var uri = new Uri($"api/v1/messages?dialogueId={Uri.EscapeDataString(dialogueId)}{_nsQuery}", UriKind.Relative);
        using var response = await _http.PostAsync(uri, content, ct).ConfigureAwait(false);
        var bytes = await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            return ((int)response.StatusCode, null);
        }

        using var document = JsonDocument.Parse(bytes);
        return ((int)response.StatusCode, document.RootElement.GetProperty("id").GetString());
    }

    /// <summary>Appends one atomic batch of <see cref="LoadOptions.Batch"/> messages; returns the status and how many were stored.</summary>
    public async Task<(int Status, int Rows)> AppendBatchAsync(string dialogueId, CancellationToken ct) =>
        await AppendBatchAsync(dialogueId, _batchBody, ct).ConfigureAwait(false);

    public async Task<(int Status, int Rows)> AppendBatchAsync(string dialogueId, byte[] body, CancellationToken ct)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var uri = new Uri($"api/v1/messages?dialogueId={Uri.EscapeDataString(dialogueId)}{_nsQuery}", UriKind.Relative);
        using var response = await _http.PostAsync(uri, content, ct).ConfigureAwait(false);
        var bytes = await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            return ((int)response.StatusCode, 0);
        }

        using var document = JsonDocument.Parse(bytes);
        return ((int)response.StatusCode, document.RootElement.GetArrayLength());
    }

    /// <summary>GET one page of a dialogue's messages (default order); returns the status and the items on the page.</summary>
    public async Task<(int Status, int Rows)> ListAsync(string dialogueId, CancellationToken ct)
    {
        var uri = new Uri($"api/v1/messages?dialogueId={Uri.EscapeDataString(dialogueId)}&limit={_listLimit}{_nsQuery}", UriKind.Relative);
        using var response = await _http.GetAsync(uri, ct).ConfigureAwait(false);
        var bytes = await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            return ((int)response.StatusCode, 0);
        }

        using var document = JsonDocument.Parse(bytes);
        return ((int)response.StatusCode, document.RootElement.GetProperty("items").GetArrayLength());
    }

    /// <summary>GET one dialogue by id: the lightest authenticated read, so per-request costs such as the rate limiter show most.</summary>
    public async Task<int> GetDialogueAsync(string dialogueId, CancellationToken ct)
    {
        var uri = new Uri($"api/v1/dialogue/{Uri.EscapeDataString(dialogueId)}{(_nsQuery.Length == 0 ? "" : "?" + _nsQuery[1..])}", UriKind.Relative);
        using var response = await _http.GetAsync(uri, ct).ConfigureAwait(false);
        await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
        return (int)response.StatusCode;
    }

    /// <summary>GET /healthz/live over the same TLS connections: the floor of any request (Kestrel, TLS, routing; no key, no database).</summary>
    public async Task<int> LiveAsync(CancellationToken ct)
    {
        using var response = await _http.GetAsync(new Uri("healthz/live", UriKind.Relative), ct).ConfigureAwait(false);
        await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
        return (int)response.StatusCode;
    }

    public void Dispose()
    {
        _http.Dispose();
        _ca?.Dispose();
    }
}
