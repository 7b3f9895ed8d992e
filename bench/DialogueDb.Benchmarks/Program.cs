using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

// In-process: BenchmarkDotNet would otherwise generate and build a child project per run, which inherits this
// repository's warnings-as-errors analyzers and doubles the build time on a shared machine; the measured code is the
// same Release build either way. `--quick` selects a short run (3 iterations) for `make bench-quick`.
var quick = args.Contains("--quick");
var rest = args.Where(a => a != "--quick").ToArray();
if (rest is ["search-figures"])
{
    DialogueDb.Benchmarks.SearchFigures.Run(quick);
    return;
}

if (rest is ["embedding-figures"])
{
    DialogueDb.Benchmarks.SearchFigures.RunEmbedding(quick);
    return;
}

var job = (quick ? Job.ShortRun : Job.Default).WithToolchain(InProcessEmitToolchain.Instance);
var config = DefaultConfig.Instance.AddJob(job.AsDefault());
BenchmarkSwitcher.FromAssembly(typeof(DialogueDb.Benchmarks.ContentEncryption).Assembly).Run(rest.Length == 0 ? ["--filter", "*"] : rest, config);
