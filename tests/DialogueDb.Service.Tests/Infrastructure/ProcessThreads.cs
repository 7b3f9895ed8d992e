using System.Globalization;
using DialogueDb.Service.Hosting;

namespace DialogueDb.Service.Tests.Infrastructure;

/// <summary>This process's threads as Linux shows them (<c>/proc/self/task</c>): for tests of thread priorities.</summary>
internal static class ProcessThreads
{
    /// <summary>The runtime names its own threads ".NET …"; others carry the name of their creator or their own.</summary>
    public static bool IsRuntimeThread(string name) => name.StartsWith(".NET", StringComparison.Ordinal);

    /// <summary>
    /// The threads by id with their names (cut to 15 characters by the kernel) and nice values; a thread that ends while
    /// they are read is left out.
    /// </summary>
    public static Dictionary<string, (string Name, int? Nice)> Read()
    {
        var threads = new Dictionary<string, (string, int?)>();
        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(task, "stat"));
            }
            catch (IOException)
            {
                continue; // the thread ended
            }

            threads[Path.GetFileName(task)] = (stat[(stat.IndexOf('(') + 1)..stat.LastIndexOf(')')], ThreadNiceness.NicenessOf(stat));
        }

        return threads;
    }

    /// <summary>
    /// The time the thread has run on a CPU (the first field of its <c>schedstat</c>, in nanoseconds), or null once it
    /// has ended.
    /// </summary>
    public static TimeSpan? TimeOnCpu(string id)
    {
        try
        {
            var nanoseconds = long.Parse(File.ReadAllText($"/proc/self/task/{id}/schedstat").Split(' ')[0], CultureInfo.InvariantCulture);
            return TimeSpan.FromTicks(nanoseconds / 100);
        }
        catch (IOException)
        {
            return null; // the thread ended
        }
    }
}
