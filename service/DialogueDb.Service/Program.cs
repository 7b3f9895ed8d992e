using System.CommandLine;
using DialogueDb.Service.Hosting;

return await Cli.Build().Parse(args).InvokeAsync();
