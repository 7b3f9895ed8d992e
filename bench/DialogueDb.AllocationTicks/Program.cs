using Microsoft.Diagnostics.Tracing;

// Bytes allocated per request by type, from a trace of the runtime's allocation samples (GCAllocationTick: one event
// per ~100 KB allocated, naming the type that crossed the mark). Used by bench/profile.sh <scenario> allocations.
//   dialoguedb-allocation-ticks <trace.nettrace> <requests in the traced window> [types to list]
if (args.Length < 2 || !double.TryParse(args[1], out var requests) || requests <= 0)
{
    Console.Error.WriteLine("usage: dialoguedb-allocation-ticks <trace.nettrace> <requests> [top]");
    return 2;
}

var top = args.Length > 2 && int.TryParse(args[2], out var n) ? n : 25;
var byType = new Dictionary<string, long>();
long total = 0;
using (var source = new EventPipeEventSource(args[0]))
{
    source.Clr.GCAllocationTick += tick =>
    {
        var type = tick.TypeName ?? "(unknown)";
        byType[type] = byType.GetValueOrDefault(type) + tick.AllocationAmount64;
        total += tick.AllocationAmount64;
    };
    source.Process();
}

Console.WriteLine($"allocated {total / 1e6:F1} MB in the trace: {total / requests:F0} bytes per request ({requests:F0} requests)");
foreach (var (type, bytes) in byType.OrderByDescending(p => p.Value).Take(top))
{
    Console.WriteLine($"{bytes / requests,8:F0} B  {100.0 * bytes / total,5:F1}%  {type}");
}

return 0;
