using System.Diagnostics;
using DialogueDb.LoadGen;

LoadOptions options;
try
{
    options = LoadOptions.Parse(args);
}
catch (ArgumentException ex)
{
    await Console.Error.WriteLineAsync(ex.Message).ConfigureAwait(false);
    return 2;
}

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};

if (options.Scenario == "seed")
{
    var clock = Stopwatch.StartNew();
    var dialogue = await LoadRun.SeedAsync(options, stop.Token).ConfigureAwait(false);
    await Console.Error.WriteLineAsync($"seeded {options.SeedMessages} messages into {dialogue} in {clock.Elapsed.TotalSeconds:0.0} s").ConfigureAwait(false);
    Console.WriteLine(dialogue);
    return 0;
}

var run = await LoadRun.ExecuteAsync(options, stop.Token).ConfigureAwait(false);
Console.Write(Report.Markdown(options, run));
if (options.ResultFile is not null)
{
    Report.AppendTsv(options, run, options.ResultFile);
}

return run.Missing == 0 && run.Errors.Count == 0 ? 0 : 1;
