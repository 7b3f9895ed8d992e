namespace DialogueDb.Service.Hosting;

/// <summary>
/// The connection that held a worker's advisory lock broke while it worked: the lock is gone, another replica may lead
/// now, so this one stopped its work (<see cref="LeaderLoop"/>) and tries to lead again.
/// </summary>
internal sealed class LeadLostException : Exception
{
    public LeadLostException()
        : base("The connection holding the worker's lock was lost")
    {
    }

    public LeadLostException(string message)
        : base(message)
    {
    }

    public LeadLostException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
