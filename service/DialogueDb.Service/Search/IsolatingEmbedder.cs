namespace DialogueDb.Service.Search;

/// <summary>
/// Embeds the vector queue's batches so that an input the embedder fails for cannot hold up the items behind it. A
/// batch that fails is retried as a whole (the caller backs off between rounds) while the failure may be passing; a
/// batch the embedder refuses outright (<see cref="EmbeddingsFailure.Refused"/>), or that failed
/// <see cref="FailuresBeforeIsolating"/> rounds in a row, is split: first a probe text tells whether the embedder works
/// at all (if not, it is an outage: nothing is marked, the caller backs off and the batch waits), then the batch is
/// halved again and again, each half that passes is kept and each single input that still fails is reported failed
/// (unless no input passed and not all were refused: then it is taken for an outage too).
/// Any exception of the embedder counts as a failure of its inputs (an in-process model may throw anything for an odd
/// input); only the caller's cancellation passes through.
/// </summary>
internal sealed class IsolatingEmbedder(IEmbedder embedder)
{
    public const int FailuresBeforeIsolating = 3;

    /// <summary>Embedded to tell an embedder that works from one that is down; holds nothing of any item.</summary>
    public const string ProbeText = "probe";

    private long _failingHead = -1;
    private int _headFailures;

    /// <summary>Embeds the entries (queue id and text), oldest first; see <see cref="EmbeddedBatch"/> for the outcome.</summary>
    public async Task<EmbeddedBatch> EmbedAsync(IReadOnlyList<(long Id, string Text)> entries, CancellationToken ct)
    {
        var batch = new EmbeddedBatch();
        if (entries.Count == 0)
        {
            return batch;
        }

        var head = entries[0].Id;
        if (await TryAsync(entries, batch, ct) is not { } failure)
        {
            _failingHead = -1;
            return batch;
        }

        _headFailures = _failingHead == head ? _headFailures + 1 : 1;
        _failingHead = head;
        if (!failure.Refused && _headFailures < FailuresBeforeIsolating)
        {
            batch.Outage = failure;
            return batch;
        }

        if (await TryAsync([(0, ProbeText)], null, ct) is { } down)
        {
            // Refusing or failing a text of no item: the embedder (or its configuration) is at fault, not the items.
            batch.Outage = down;
            return batch;
        }

        await SplitAsync(entries, failure, batch, ct);
        if (batch.Vectors.Count == 0 && !batch.RefusedOnly)
        {
            // Not one input passed, and not every one was refused: the embedder more likely stopped working meanwhile
            // than every input is bad. Nothing is marked; when an input behind them passes, the bad ones are found.
            batch.Failed.Clear();
            batch.Outage = failure;
            return batch;
        }

        _failingHead = -1;
        return batch;
    }

    /// <summary>
    /// Embeds into <paramref name="batch"/> entries the embedder failed for on their own before (their retry, see
    /// <see cref="EmbeddingRetrySchedule"/>). They are suspect, so a failure is isolated at once, without the rounds of
    /// <see cref="EmbedAsync"/>: once the probe text passes, each input that fails alone is reported failed again (even
    /// if none passed: the probe just showed the embedder works). When the probe fails too, the embedder is down:
    /// <see cref="EmbeddedBatch.Outage"/>, and the entries stay as they are.
    /// </summary>
    public async Task RetryAsync(IReadOnlyList<(long Id, string Text)> entries, EmbeddedBatch batch, CancellationToken ct)
    {
        if (entries.Count == 0 || await TryAsync(entries, batch, ct) is not { } failure)
        {
            return;
        }

        if (await TryAsync([(0, ProbeText)], null, ct) is { } down)
        {
            batch.Outage = down;
            return;
        }

        await SplitAsync(entries, failure, batch, ct);
    }

    /// <summary>Isolates the inputs of <paramref name="entries"/>, which failed together with <paramref name="failure"/>.</summary>
    private async Task SplitAsync(IReadOnlyList<(long Id, string Text)> entries, EmbeddingsFailure failure, EmbeddedBatch batch,
        CancellationToken ct)
    {
        if (entries.Count == 1)
        {
            batch.Failed.Add(entries[0].Id);
            batch.Reason = failure.Message;
            batch.RefusedOnly &= failure.Refused;
            return;
        }

        var half = entries.Count / 2;
        foreach (var part in new[] { entries.Take(half).ToList(), entries.Skip(half).ToList() })
        {
            if (await TryAsync(part, batch, ct) is { } partFailure)
            {
                await SplitAsync(part, partFailure, batch, ct);
            }
        }
    }

    /// <summary>Embeds the entries into <paramref name="batch"/>; returns the failure instead of throwing it.</summary>
    private async Task<EmbeddingsFailure?> TryAsync(IReadOnlyList<(long Id, string Text)> entries, EmbeddedBatch? batch,
        CancellationToken ct)
    {
        float[][][] vectors;
        try
        {
            vectors = await embedder.EmbedAsync([.. entries.Select(e => e.Text)], ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (EmbeddingsFailure ex)
        {
            return ex;
        }
        catch (Exception ex)
        {
            // Only the type: an exception's message may quote the input.
            return new EmbeddingsFailure($"The embedder failed ({ex.GetType().Name})", ex);
        }

        if (vectors.Length != entries.Count
            || vectors.Any(chunks => chunks is null || chunks.Length == 0 || chunks.Any(v => v is null || v.Length != embedder.Dimensions)))
        {
            return new EmbeddingsFailure($"The embedder did not answer one or more {embedder.Dimensions}-dimension vectors per text");
        }

        for (var i = 0; i < entries.Count; i++)
        {
            batch?.Vectors.Add(entries[i].Id, vectors[i]);
        }

        return null;
    }
}
