using System.CommandLine;
using DialogueDb.Service.Policy;
using DialogueDb.Service.Security;

namespace DialogueDb.Service.Hosting.Commands;

/// <summary><c>dialoguedb keys create|list|revoke</c>: the project file's API keys (a running server follows within a second).</summary>
internal static class KeysCommand
{
    public static Command Create(CliOptions shared)
    {
        var name = new Option<string>("--name") { Description = "A label for the key (e.g. the application using it)", Required = true };
        var scope = new Option<string>("--scope")
        {
            Description = "read-write (default) or read-only",
            DefaultValueFactory = _ => ApiKeyRecord.ReadWrite,
        };
        scope.AcceptOnlyFromAmong(ApiKeyRecord.ReadWrite, ApiKeyRecord.ReadOnly);
        var create = new Command("create", "Create an API key; it is printed exactly once and only its hash is stored")
        {
            shared.DataDir, name, scope,
        };
        create.SetAction(parse => CreateKey(Bind(shared, parse), parse.GetValue(name)!, parse.GetValue(scope)!,
            parse.InvocationConfiguration));

        var list = new Command("list", "List the API keys (ids, names, scopes; never key material)") { shared.DataDir };
        list.SetAction(parse => ListKeys(Bind(shared, parse), parse.InvocationConfiguration.Output));

        var idOrName = new Argument<string>("key") { Description = "The key id (or its name, when unique)" };
        var revoke = new Command("revoke", "Revoke an API key; requests with it get 401 within seconds") { shared.DataDir, idOrName };
        revoke.SetAction(parse => RevokeKey(Bind(shared, parse), parse.GetValue(idOrName)!, parse.InvocationConfiguration));

        return new Command("keys", "Manage the project's API keys (embedded mode: DATA_DIR/project.json)") { create, list, revoke };
    }

    private static ServiceOptions Bind(CliOptions shared, ParseResult parse) => CliOptions.Bind(shared.Overrides(parse));

    private static int CreateKey(ServiceOptions options, string name, string scope, InvocationConfiguration console)
    {
        var (project, hasher) = OpenProject(options);
        var (keyId, key) = ApiKeyHasher.NewKey();
        var record = new ApiKeyRecord(keyId, name, scope, hasher.Hash(key));
        (project with { ApiKeys = [.. project.ApiKeys, record] }).Write(options.ProjectFilePath);
        console.Error.WriteLine($"Created API key {keyId} ({record.Scope}) for '{record.Name}'. It is shown only now:");
        console.Output.WriteLine(key);
        return 0;
    }

    private static int ListKeys(ServiceOptions options, TextWriter output)
    {
        var (project, _) = OpenProject(options);
        output.WriteLine($"{"ID",-14} {"SCOPE",-11} NAME");
        foreach (var key in project.ApiKeys)
        {
            output.WriteLine($"{key.Id,-14} {key.Scope,-11} {key.Name}");
        }

        return 0;
    }

    private static int RevokeKey(ServiceOptions options, string wanted, InvocationConfiguration console)
    {
        var (project, _) = OpenProject(options);
        var matches = project.ApiKeys.Where(k => k.Id == wanted).ToList();
        if (matches.Count == 0)
        {
            matches = [.. project.ApiKeys.Where(k => k.Name == wanted)];
        }

        if (matches.Count != 1)
        {
            console.Error.WriteLine(matches.Count == 0
                ? $"No API key '{wanted}'."
                : $"'{wanted}' names {matches.Count} keys; revoke by id.");
            return 1;
        }

        (project with { ApiKeys = [.. project.ApiKeys.Where(k => k.Id != matches[0].Id)] }).Write(options.ProjectFilePath);
        console.Output.WriteLine($"Revoked API key {matches[0].Id} ('{matches[0].Name}').");
        return 0;
    }

    private static (ProjectDocument Project, ApiKeyHasher Hasher) OpenProject(ServiceOptions options)
    {
        if (!File.Exists(options.ProjectFilePath))
        {
            throw new InvalidOperationException(
                $"No project file at {options.ProjectFilePath}: start `dialoguedb serve` once (it creates the development project) " +
                "or set --data-dir.");
        }

        var hasher = new ApiKeyHasher(DevProject.LoadOrCreateHashSecret(options.ApiKeyHashSecretPath));
        return (ProjectDocument.Read(options.ProjectFilePath), hasher);
    }
}
