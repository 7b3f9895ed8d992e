using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace DialogueDb.Service.Hosting;

/// <summary>
/// Kestrel's listeners for the API and metrics addresses, bound as <c>UseUrls</c> would bind them (localhost, an IP
/// address, or any other host as every address), each with its connection middleware in order: the unauthenticated
/// connection limit on the raw connection, TLS for https, then <see cref="KestrelRejections"/> on the HTTP bytes. The
/// addresses are not handed to <c>UseUrls</c> because Kestrel would put its TLS after every middleware.
/// </summary>
internal static class ListenAddresses
{
    public static void Configure(KestrelServerOptions kestrel, ServiceOptions options, UnauthenticatedConnections unauthenticated,
        KestrelRejections rejections)
    {
        const StringSplitOptions Entries = StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries;
        foreach (var url in $"{options.Urls};{options.MetricsUrls}".Split(';', Entries))
        {
            var address = BindingAddress.Parse(url);
            var https = string.Equals(address.Scheme, "https", StringComparison.OrdinalIgnoreCase);
            void Listen(ListenOptions listen)
            {
                listen.Use(unauthenticated.Middleware);
                if (https)
                {
                    listen.UseHttps();
                }

                listen.Use(rejections.Middleware);
            }

            if (string.Equals(address.Host, "localhost", StringComparison.OrdinalIgnoreCase))
            {
                kestrel.ListenLocalhost(address.Port, Listen);
            }
            else if (IPAddress.TryParse(address.Host.Trim('[', ']'), out var ip))
            {
                kestrel.Listen(ip, address.Port, Listen);
            }
            else
            {
                // '*', '+' or a host name: every address, as Kestrel binds such URLs.
                kestrel.ListenAnyIP(address.Port, Listen);
            }
        }
    }
}
