using System.Net;
using DialogueDb.Service.Redis;

namespace DialogueDb.Service.Tests.Redis;

public sealed class RedisConnectionTests
{
    [Fact]
    public void Parse_RedissUrlWithAclUser_TlsUserPasswordAndDatabase()
    {
        var options = RedisConnection.Parse("rediss://tenant-acme:p%40ss%3Aword@redis.internal:6380/3");

        Assert.True(options.Ssl);
        Assert.Equal("tenant-acme", options.User);
        Assert.Equal("p@ss:word", options.Password);
        Assert.Equal(3, options.DefaultDatabase);
        var endpoint = Assert.IsType<DnsEndPoint>(Assert.Single(options.EndPoints));
        Assert.Equal(("redis.internal", 6380), (endpoint.Host, endpoint.Port));
    }

    [Fact]
    public void Parse_PlainRedisUrlPasswordOnly_DefaultPortNoTls()
    {
        var options = RedisConnection.Parse("redis://:secret@127.0.0.1");

        Assert.False(options.Ssl);
        Assert.Null(options.User);
        Assert.Equal("secret", options.Password);
        var endpoint = Assert.IsType<IPEndPoint>(Assert.Single(options.EndPoints));
        Assert.Equal(6379, endpoint.Port);
    }

    [Fact]
    public void Parse_AnyForm_FailsFastInsteadOfHanging()
    {
        var options = RedisConnection.Parse("127.0.0.1:6379,password=x");

        Assert.False(options.AbortOnConnectFail);
        Assert.True(options.AsyncTimeout <= 500);
        Assert.Equal("x", options.Password);
    }
}
