using DialogueDb.Service.Search;
using DialogueDb.Service.Tests.Infrastructure;
using Microsoft.ML.OnnxRuntime;

namespace DialogueDb.Service.Tests.Search;

/// <summary>
/// The in-process model never calls out: its first load turns ONNX Runtime's telemetry off before the runtime's
/// environment exists (<see cref="OnnxRuntimeTelemetry"/>), so the runtime starts no uploader thread. Runs in a fresh
/// process of this test assembly, without any <c>ORT_</c> setting: the environment is process-wide and other tests of this
/// process create it. Without the switch, the child came out with the uploader running under the loading thread's name.
/// </summary>
public sealed class OnnxRuntimeTelemetryTests
{
    /// <summary>Set in the child process.</summary>
    private const string ChildVariable = "DIALOGUEDB_TEST_ORT_TELEMETRY_CHILD";

    /// <summary>The thread that loads the model: threads the native library starts from it carry this name.</summary>
    private const string Loader = "model loader";

    [Fact]
    public async Task FirstModelLoad_StartsNoTelemetryUploader()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "the uploader is found by its thread, read from /proc");
        await ChildTestRun.AssertPassesAsync(typeof(OnnxRuntimeTelemetryTests), nameof(ChildProcess_LoadTheModelOnANamedThread),
            new Dictionary<string, string> { [ChildVariable] = "1" }, TestContext.Current.CancellationToken);
    }

    [Fact(Explicit = true)]
    public void ChildProcess_LoadTheModelOnANamedThread()
    {
        Assert.SkipWhen(Environment.GetEnvironmentVariable(ChildVariable) is null,
            $"runs in the process {nameof(FirstModelLoad_StartsNoTelemetryUploader)} starts");
        Assert.Null(Environment.GetEnvironmentVariable(OnnxRuntimeTelemetry.Variable));
        Assert.False(OrtEnv.IsCreated, "ONNX Runtime's environment existed before the model loaded");

        Exception? failure = null;
        var loader = new Thread(() =>
        {
            try
            {
                // One thread: the session starts no pool of its own, so any thread left named after this one is the runtime's.
                MiniLmEmbedder.SingleThreaded().EmbedAsync(["the first text the model embeds"], CancellationToken.None).AsTask().GetAwaiter().GetResult();
            }
            catch (Exception ex)
            {
                failure = ex;
            }
        }) { Name = Loader };
        loader.Start();
        loader.Join();

        Assert.Null(failure);
        Assert.True(OrtEnv.IsCreated, "the model ran without ONNX Runtime's environment");
        // The loader has ended: a thread still named after it is one it started and left running.
        Assert.DoesNotContain(ProcessThreads.Read().Values, t => t.Name == Loader);
    }
}
