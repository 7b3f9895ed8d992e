using DialogueDb.Service.Hosting;
using Microsoft.Extensions.Configuration;

namespace DialogueDb.Service.Tests.Telemetry;

/// <summary>Issue #17: the metrics listener's settings: on by default for <c>serve</c>, plain HTTP on its own fixed port.</summary>
public sealed class TelemetryOptionsTests
{
    private static ServiceOptions Bind(params (string Key, string Value)[] settings) => ServiceOptions.From(
        new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value))).Build());

    [Fact]
    public void Configured_NoMetricsSetting_DefaultsToLoopback9464_EmptyTurnsItOff()
    {
        Assert.Equal(new[] { 9464 }, Bind().MetricsPorts());
        Assert.Empty(Bind(("METRICS_URLS", "")).MetricsPorts());
        Assert.Equal(new[] { 9100, 9101 }, Bind(("METRICS_URLS", "http://0.0.0.0:9100; http://[::]:9101")).MetricsPorts().Order());
    }

    [Theory]
    [InlineData("https://127.0.0.1:9464")]
    [InlineData("http://127.0.0.1:0")]
    [InlineData("http://127.0.0.1")]
    [InlineData("http://127.0.0.1:8443")]
    [InlineData("not a url")]
    public void Validate_MetricsListenerNotPlainHttpOnItsOwnFixedPort_RefusedNamingTheSetting(string url)
    {
        var options = Bind(("URLS", "https://127.0.0.1:8443"), ("METRICS_URLS", url));

        var ex = Assert.Throws<InvalidOperationException>(options.Validate);

        Assert.Contains("DIALOGUEDB_METRICS_URLS", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_LogFormatOtherThanTextOrJson_Refused()
    {
        var ex = Assert.Throws<InvalidOperationException>(Bind(("LOG_FORMAT", "xml")).Validate);

        Assert.Contains("LOG_FORMAT", ex.Message, StringComparison.Ordinal);
    }
}
