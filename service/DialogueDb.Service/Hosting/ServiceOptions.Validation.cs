using System.ComponentModel.DataAnnotations;

namespace DialogueDb.Service.Hosting;

/// <summary>The checks of the settings as a whole, run at start.</summary>
internal sealed partial class ServiceOptions
{
    /// <summary>Fails fast with a message naming the setting, so a misconfigured pod crashes at once.</summary>
    public void Validate()
    {
        var results = new List<ValidationResult>();
        if (!Validator.TryValidateObject(this, new ValidationContext(this), results, validateAllProperties: true))
        {
            throw new InvalidOperationException("Invalid configuration: " + string.Join("; ", results.Select(r => r.ErrorMessage)));
        }

        if (UsesEmbeddingsEndpoint && (string.IsNullOrWhiteSpace(EmbeddingsModel) || EmbeddingsDimensions is null
            || !Uri.TryCreate(EmbeddingsUrl, UriKind.Absolute, out var embeddings)
            || (embeddings.Scheme != "https" && embeddings.Scheme != "http")))
        {
            throw new InvalidOperationException($"Invalid configuration: {EnvironmentPrefix}EMBEDDINGS_URL must be an http(s) URL " +
                $"and needs {EnvironmentPrefix}EMBEDDINGS_MODEL and {EnvironmentPrefix}EMBEDDINGS_DIMENSIONS.");
        }

        if ((TlsCertificateFile is null) != (TlsKeyFile is null))
        {
            throw new InvalidOperationException(
                $"Invalid configuration: {EnvironmentPrefix}TLS_CERT and {EnvironmentPrefix}TLS_KEY must be set together.");
        }

        foreach (var url in Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!Uri.TryCreate(url.Replace("*", "0.0.0.0", StringComparison.Ordinal).Replace("+", "0.0.0.0", StringComparison.Ordinal),
                    UriKind.Absolute, out var uri) || (uri.Scheme != "https" && uri.Scheme != "http"))
            {
                throw new InvalidOperationException($"Invalid configuration: {EnvironmentPrefix}URLS has an invalid address '{url}'.");
            }
        }

        var apiPorts = Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(u => Uri.TryCreate(u.Replace("*", "0.0.0.0", StringComparison.Ordinal).Replace("+", "0.0.0.0", StringComparison.Ordinal),
                UriKind.Absolute, out var uri) ? uri.Port : -1)
            .ToHashSet();
        foreach (var url in (MetricsUrls ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            // The metrics endpoint is told apart by its listener's port: it must be plain HTTP, fixed and not the API's.
            if (!Uri.TryCreate(url.Replace("*", "0.0.0.0", StringComparison.Ordinal).Replace("+", "0.0.0.0", StringComparison.Ordinal),
                    UriKind.Absolute, out var uri) || uri.Scheme != "http" || uri.IsDefaultPort || uri.Port == 0 || apiPorts.Contains(uri.Port))
            {
                throw new InvalidOperationException($"Invalid configuration: {EnvironmentPrefix}METRICS_URLS has '{url}'; " +
                    "give plain http:// addresses with a fixed port that no API address uses.");
            }
        }
    }
}
