using System.Runtime.InteropServices;
using System.Text;

namespace DialogueDb.Service.Search;

/// <summary>
/// ONNX Runtime (1.32, Linux) sends usage telemetry to Microsoft unless <c>ORT_DISABLE_TELEMETRY</c> is set when its
/// environment is created: a thread of its own that wakes every few seconds to look up its collector
/// (<c>mobile.events.data.microsoft.com</c>), and a device id and offline event store under
/// <c>~/.cache/Microsoft/DeveloperTools/.onnxruntime/</c> (measured with strace and on disk; the C API's
/// DisableTelemetryEvents did not stop the lookups). A self-hosted store of conversations must not call out, so the
/// variable is set in the process's native environment before the first model load (.NET's
/// <see cref="Environment.SetEnvironmentVariable(string, string)"/> does not reach the native library's getenv on Linux).
/// An operator's own setting, whatever it says, is kept. The image sets it too.
/// </summary>
internal static class OnnxRuntimeTelemetry
{
    public const string Variable = "ORT_DISABLE_TELEMETRY";

    /// <summary>Sets the variable for the native library unless it is set already; idempotent, cheap.</summary>
    public static void TurnOff()
    {
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
        {
            _ = SetEnv(NullTerminated(Variable), NullTerminated("1"), overwrite: 0);
        }
    }

    private static byte[] NullTerminated(string text) => Encoding.UTF8.GetBytes(text + '\0');

    // Byte arrays are pinned, not converted: no marshalling code is generated, so no unsafe code is needed for it.
    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int SetEnv(byte[] name, byte[] value, int overwrite);
}
