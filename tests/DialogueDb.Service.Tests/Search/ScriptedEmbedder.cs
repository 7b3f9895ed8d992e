using System.Collections.Concurrent;
using System.Numerics.Tensors;
using DialogueDb.Service.Search;

namespace DialogueDb.Service.Tests.Search;

/// <summary>
/// An in-process embedder for fault injection: bag-of-words vectors (<see cref="LoopbackEmbeddingsServer.VectorOf"/>,
/// so texts sharing words are near), and rules keyed by a word of the input: hold every call with such an input until
/// released, or fail it (always, or a number of times). Calls whose inputs hold no such word (search queries, the
/// indexer's probe) are answered at once. It records every call's inputs.
/// </summary>
internal sealed class ScriptedEmbedder : IEmbedder
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _holds = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (Func<Exception> Failure, int Times)> _failures = new(StringComparer.Ordinal);
    private volatile bool _down;

    public int Dimensions => 32;

    public string Model { get; init; } = "scripted-bag-of-words";

    public ConcurrentQueue<string[]> Calls { get; } = new();

    /// <summary>Calls with an input containing <paramref name="word"/> wait until <see cref="Release"/>.</summary>
    public void Hold(string word) => _holds[word] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Release(string word)
    {
        if (_holds.TryRemove(word, out var hold))
        {
            hold.TrySetResult();
        }
    }

    /// <summary>Calls with an input containing <paramref name="word"/> throw (the next <paramref name="times"/> ones, or all).</summary>
    public void Fail(string word, Func<Exception> failure, int times = int.MaxValue) => _failures[word] = (failure, times);

    /// <summary>Every call fails, whatever its inputs (the embedder is down), until set back.</summary>
    public bool Down
    {
        get => _down;
        set => _down = value;
    }

    public async ValueTask<float[][][]> EmbedAsync(IReadOnlyList<string> texts, CancellationToken ct)
    {
        Calls.Enqueue([.. texts]);
        foreach (var (word, hold) in _holds)
        {
            if (texts.Any(t => t.Contains(word, StringComparison.Ordinal)))
            {
                await hold.Task.WaitAsync(ct);
            }
        }

        if (_down)
        {
            throw new EmbeddingsFailure("The scripted embedder is down");
        }

        foreach (var (word, (failure, times)) in _failures)
        {
            if (times > 0 && texts.Any(t => t.Contains(word, StringComparison.Ordinal)))
            {
                _failures[word] = (failure, times - 1);
                throw failure();
            }
        }

        return [.. texts.Select(t =>
        {
            var vector = LoopbackEmbeddingsServer.VectorOf(t, Dimensions);
            TensorPrimitives.Divide(vector, TensorPrimitives.Norm(vector), vector);
            return new[] { vector };
        })];
    }
}
