namespace DialogueDb.Operator.Reconciliation;

/// <summary>
/// What the controller does with a key after a reconcile: nothing (watches and resync bring it back) or requeue after a delay.
/// </summary>
internal readonly record struct ReconcileResult(TimeSpan? RequeueAfter)
{
    public static ReconcileResult Done => new(null);

    /// <summary>The earlier of two requeue delays (null means none).</summary>
    public static TimeSpan? Earliest(TimeSpan? first, TimeSpan? second) =>
        first is null ? second : second is null ? first : first < second ? first : second;
}
