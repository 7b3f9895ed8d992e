using DialogueDb.Operator.Resources;

namespace DialogueDb.Operator.Hosting;

/// <summary>A server the operator shares between projects, reached with an admin connection read from a mounted file.</summary>
internal abstract class SharedServer(int defaultPort)
{
    public string Host { get; set; } = "";
    public int Port { get; set; } = defaultPort;

    /// <summary>A file (mounted from a Secret) holding the admin connection; read on every use, so it can rotate.</summary>
    public string AdminConnectionFile { get; set; } = "";

    /// <summary>Where the server is, for the API pods' egress rules.</summary>
    public List<NetworkPeer> Peers { get; set; } = [];

    public virtual IEnumerable<string> Validate()
    {
        if (string.IsNullOrWhiteSpace(Host))
        {
            yield return "host is empty.";
        }

        if (Port is < 1 or > 65535)
        {
            yield return "port is out of range.";
        }

        if (string.IsNullOrWhiteSpace(AdminConnectionFile))
        {
            yield return "adminConnectionFile is empty.";
        }
    }
}

/// <summary>
/// The shared PostgreSQL on which the operator creates a database and roles per project (admin file: an Npgsql
/// connection string).
/// </summary>
internal sealed class SharedPostgres() : SharedServer(5432)
{
    /// <summary>Npgsql SSL Mode for the projects' connections (Require, VerifyCA, VerifyFull, Disable).</summary>
    public string SslMode { get; set; } = "Require";

    public override IEnumerable<string> Validate()
    {
        foreach (var problem in base.Validate())
        {
            yield return problem;
        }

        if (SslMode is not ("Disable" or "Allow" or "Prefer" or "Require" or "VerifyCA" or "VerifyFull"))
        {
            yield return "sslMode must be one of Disable, Allow, Prefer, Require, VerifyCA, VerifyFull.";
        }
    }
}

/// <summary>
/// The shared Redis on which the operator creates an ACL user per project (admin file: a StackExchange.Redis
/// configuration string).
/// </summary>
internal sealed class SharedRedis() : SharedServer(6379)
{
    public bool Tls { get; set; }
}
