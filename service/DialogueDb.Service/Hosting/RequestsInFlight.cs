namespace DialogueDb.Service.Hosting;

/// <summary>
/// How many HTTP requests this process is serving right now, counted once they passed authorization (anonymous
/// endpoints such as the health checks included). Background CPU work (the in-process embedding model) yields
/// while requests keep the cores busy: the model's thread runs at the lowest priority, but that only orders it against
/// this process's own threads, not against PostgreSQL or another process on the same cores.
/// </summary>
internal sealed class RequestsInFlight
{
    private int _count;

    public int Count => Volatile.Read(ref _count);

    /// <summary>
    /// Requests in flight from which the API counts as busy: as many as the process has cores, at least 2 (one request
    /// alone spends much of its time waiting for the database).
    /// </summary>
    public static int BusyAt { get; } = Math.Max(2, Environment.ProcessorCount);

    /// <summary>True while at least <see cref="BusyAt"/> requests are in flight.</summary>
    public bool Busy => Count >= BusyAt;

    /// <summary>The middleware that counts them.</summary>
    public async Task TrackAsync(HttpContext context, RequestDelegate next)
    {
        Interlocked.Increment(ref _count);
        try
        {
            await next(context);
        }
        finally
        {
            Interlocked.Decrement(ref _count);
        }
    }
}
