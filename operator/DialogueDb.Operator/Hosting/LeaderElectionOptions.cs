namespace DialogueDb.Operator.Hosting;

internal sealed class LeaderElectionOptions
{
    public bool Enabled { get; set; } = true;
    public string LeaseName { get; set; } = "dialoguedb-operator";
    public int LeaseSeconds { get; set; } = 15;
    public int RenewSeconds { get; set; } = 10;
    public int RetrySeconds { get; set; } = 2;
}
