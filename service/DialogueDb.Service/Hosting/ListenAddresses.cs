using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace DialogueDb.Service.Hosting;

/// <summary>
/// Kestrel's listeners from the <c>--urls</c> list, each with the connection middleware in order: the unauthenticated
/// connection limit on the raw connection, TLS for https, then <see cref="KestrelRejections"/> on the HTTP bytes
/// (which is why the URLs are not simply handed to <c>UseUrls</c>: its TLS would come after every middleware).
/// </summary>
internal static class ListenAddresses
{
    public static void Configure(KestrelServerOptions kestrel, string urls, UnauthenticatedConnections unauthenticated,
        KestrelRejections rejections)
    {
        foreach (var url in urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
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
            else if (address.Host is "*" or "+")
            {
                kestrel.ListenAnyIP(address.Port, Listen);
            }
            else if (IPAddress.TryParse(address.Host, out var ip))
            {
                kestrel.Listen(ip, address.Port, Listen);
            }
            else
            {
                throw new InvalidOperationException($"Cannot listen on '{url}': the host must be an IP address, localhost or *.");
            }
        }
    }
}
