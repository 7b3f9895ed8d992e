using System.Text;
using DialogueDb.Operator.Provisioning;
using DialogueDb.Service.Redis;

namespace DialogueDb.Operator.Tests.Provisioning;

public sealed class ProjectIdentityTests
{
    [Fact]
    public void For_TenantAcmeSupport_ReadableNamesWithHashAndServicePrefix()
    {
        var names = ProjectIdentity.For("tenant-acme", "support");

        Assert.Equal("tenant-acme/support", names.ProjectId);
        Assert.Matches("^ddb_tenant_acme_support_[0-9a-f]{10}$", names.Database);
        Assert.Equal(names.Database + "_owner", names.OwnerRole);
        Assert.Equal(names.Database + "_api", names.ApiRole);
        Assert.Equal(names.Database + "_maint", names.MaintenanceRole);
        Assert.Equal(names.Database, names.RedisUser);
        Assert.Equal("ddb:{tenant-acme/support}:", names.RedisKeyPrefix);
        // Exactly the service's own default for that project id, so the ACL pattern covers every key it writes.
        Assert.Equal(RedisKeys.DefaultPrefix(names.ProjectId), names.RedisKeyPrefix);
    }

    [Fact]
    public void For_SameProjectTwice_SameNames()
    {
        Assert.Equal(ProjectIdentity.For("tenant-acme", "support"), ProjectIdentity.For("tenant-acme", "support"));
    }

    [Fact]
    public void For_ProjectsThatSanitiseAlike_GetDifferentNames()
    {
        var first = ProjectIdentity.For("a-b", "c");
        var second = ProjectIdentity.For("a", "b-c");
        var third = ProjectIdentity.For("a", "b.c");

        Assert.StartsWith("ddb_a_b_c_", first.Database, StringComparison.Ordinal);
        Assert.StartsWith("ddb_a_b_c_", second.Database, StringComparison.Ordinal);
        Assert.Equal(3, new[] { first.Database, second.Database, third.Database }.Distinct().Count());
        Assert.Equal(3, new[] { first.RedisKeyPrefix, second.RedisKeyPrefix, third.RedisKeyPrefix }.Distinct().Count());
    }

    [Fact]
    public void For_LongestNames_IdentifiersFit63BytesAndTruncatedOnesStayDistinct()
    {
        var ns = new string('n', 63);
        var first = ProjectIdentity.For(ns, new string('p', 252) + "1");
        var second = ProjectIdentity.For(ns, new string('p', 252) + "2");

        foreach (var identifier in (string[])[first.Database, first.OwnerRole, first.ApiRole, first.MaintenanceRole, first.RedisUser])
        {
            Assert.Matches("^[a-z_][a-z0-9_]{0,62}$", identifier);
            Assert.True(Encoding.UTF8.GetByteCount(identifier) <= 63, identifier);
        }

        Assert.NotEqual(first.Database, second.Database);
        Assert.NotEqual(first.MaintenanceRole, second.MaintenanceRole);
    }

    [Theory]
    [InlineData("Tenant", "support")]
    [InlineData("tenant_acme", "support")]
    [InlineData("tenant-", "support")]
    [InlineData("", "support")]
    [InlineData("tenant-acme", "Support")]
    [InlineData("tenant-acme", "sup/port")]
    [InlineData("tenant-acme", "sup}port")]
    [InlineData("tenant-acme", "")]
    public void For_NotKubernetesNames_ThrowsArgumentException(string ns, string name)
    {
        Assert.Throws<ArgumentException>(() => ProjectIdentity.For(ns, name));
    }

    [Fact]
    public void ProjectDatabase_ToString_NeverShowsPasswords()
    {
        var db = ProjectDatabase.For(ProjectIdentity.For("tenant-acme", "support"), "owner-secret-1", "api-secret-2", "maint-secret-3");

        var text = db.ToString();

        Assert.Contains(db.ApiRole, text, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", text, StringComparison.Ordinal);
    }
}
