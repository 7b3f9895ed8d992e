using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using DialogueDb.Service.Search;

namespace DialogueDb.Benchmarks;

/// <summary>
/// The in-process search figures of issue #13 (`DialogueDb.Benchmarks search-figures [--quick]`): vector search latency
/// p50/p99 over one namespace of 10,000 and 100,000 items for one and for 16 concurrent callers, recall@10 of the int8
/// path against the exact scan, memory per 100,000 vectors, and MiniLM embedding throughput. Item vectors are synthetic
/// but shaped like sentence embeddings (unit vectors scattered around topic centroids, so true neighbours exist and the
/// int8 path has something to get wrong); the embedder runs the real model on message-like texts. Prints Markdown.
/// </summary>
internal static class SearchFigures
{
    private const int Dimensions = 384;
    private const int Topics = 500;

    public static void Run(bool quick)
    {
        var culture = CultureInfo.InvariantCulture;
        Console.WriteLine("## Search (in-process: the ranking's vector scan over one namespace, and the embedder)");
        Console.WriteLine();
        Console.WriteLine($"{Environment.ProcessorCount} cores; synthetic unit vectors around {Topics:N0} topic centroids; 10 results.");
        Console.WriteLine();
        Console.WriteLine("| items | path | callers | p50 ms | p99 ms | queries/s | recall@10 vs exact | MiB held (GC) | MiB counted by the cache |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
        var random = new Random(13);
        var centroids = Enumerable.Range(0, Topics).Select(_ => Unit(Noise(random, 1f))).ToArray();
        foreach (var size in (int[])[10_000, 100_000])
        {
            var before = GC.GetTotalMemory(forceFullCollection: true);
            var index = Build(size, centroids, random);
            var bytes = GC.GetTotalMemory(forceFullCollection: true) - before;
            var queries = Enumerable.Range(0, quick ? 100 : 400).Select(_ => Near(centroids[random.Next(Topics)], random)).ToArray();
            var recall = Recall(index, queries);
            var path = index.Matrix.Quantized is null ? "exact float32" : "int8 + exact re-score";
            foreach (var callers in (int[])[1, 16])
            {
                var (p50, p99, rate) = Latency(index, queries, callers, quick ? 2 : 6);
                Console.WriteLine(string.Create(culture,
                    $"| {size:N0} | {path} | {callers} | {p50:F2} | {p99:F2} | {rate:N0} | {recall:F3} | {bytes / 1048576.0:F0} | {index.Bytes / 1048576.0:F0} |"));
            }

            GC.KeepAlive(index);
        }

        Console.WriteLine();
        RunEmbedding(quick);
    }

    /// <summary>MiniLM items/s on this machine's cores, one text per call and in batches (<c>embedding-figures</c>).</summary>
    public static void RunEmbedding(bool quick)
    {
        var culture = CultureInfo.InvariantCulture;
        Console.WriteLine("Embedding (all-MiniLM-L6-v2, ONNX Runtime, message-like texts of ~40 words, ~60 word pieces):");
        Console.WriteLine();
        Console.WriteLine("| model threads | texts per call | items/s |");
        Console.WriteLine("|---|---|---|");
        foreach (var threads in new[] { Math.Max(1, Environment.ProcessorCount / 2), Environment.ProcessorCount }.Distinct())
        {
            foreach (var perCall in (int[])[1, 64])
            {
                var perSecond = EmbeddingThroughput(threads, perCall, quick ? 64 : 256);
                Console.WriteLine(string.Create(culture, $"| {threads} | {perCall} | **{perSecond:F0}** |"));
            }
        }
    }

    private static NamespaceIndex Build(int size, float[][] centroids, Random random)
    {
        var items = new Dictionary<SearchItemKey, IndexedItem>(size);
        for (var i = 0; i < size; i++)
        {
            var id = $"item{i:D7}";
            items[SearchItemKey.Message("d1", id)] = new IndexedItem(id, "d1", 40, [Near(centroids[random.Next(centroids.Length)], random)], []);
        }

        return new NamespaceIndex("", "message", 1, items, Dimensions);
    }

    /// <summary>Share of the exact top 10 that the index's own path (int8 above the exact limit) also returns.</summary>
    private static double Recall(NamespaceIndex index, float[][] queries)
    {
        var found = 0;
        foreach (var query in queries)
        {
            var exact = VectorScan.Nearest(query, index.Matrix, 10, forceExact: true).Select(r => r.Index).ToHashSet();
            found += VectorScan.Nearest(query, index.Matrix, 10).Count(r => exact.Contains(r.Index));
        }

        return found / (10.0 * queries.Length);
    }

    private static (double P50, double P99, double Rate) Latency(NamespaceIndex index, float[][] queries, int callers, int seconds)
    {
        foreach (var query in queries.Take(20))
        {
            index.Nearest(query, 10); // warm-up (tiering, caches)
        }

        var samples = new List<double>[callers];
        var clock = Stopwatch.StartNew();
        var deadline = TimeSpan.FromSeconds(seconds);
        Parallel.For(0, callers, new ParallelOptions { MaxDegreeOfParallelism = callers }, caller =>
        {
            var own = samples[caller] = [];
            for (var q = caller; clock.Elapsed < deadline; q++)
            {
                var start = Stopwatch.GetTimestamp();
                index.Nearest(queries[q % queries.Length], 10);
                own.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        });
        var all = samples.SelectMany(s => s).Order().ToArray();
        return (all[all.Length / 2], all[Math.Min(all.Length - 1, (int)(all.Length * 0.99))], all.Length / clock.Elapsed.TotalSeconds);
    }

    /// <summary>Items/s of the in-process model with <paramref name="threads"/> intra-op threads, <paramref name="perCall"/> texts a call.</summary>
    private static double EmbeddingThroughput(int threads, int perCall, int count)
    {
        var embedder = new MiniLmEmbedder(threads);
        string[] words = ["the", "customer", "asked", "about", "invoice", "delivery", "refund", "schedule", "meeting", "project",
            "deadline", "budget", "travel", "hotel", "flight", "weather", "recipe", "garden", "doctor", "appointment"];
        var random = new Random(7);
        var texts = Enumerable.Range(0, count)
            .Select(_ => string.Join(' ', Enumerable.Range(0, 40).Select(_ => words[random.Next(words.Length)]))).ToArray();
        embedder.EmbedAsync(texts[..16], CancellationToken.None).AsTask().GetAwaiter().GetResult(); // load the model
        var clock = Stopwatch.StartNew();
        for (var start = 0; start < texts.Length; start += perCall)
        {
            embedder.EmbedAsync(texts[start..Math.Min(texts.Length, start + perCall)], CancellationToken.None).AsTask().GetAwaiter().GetResult();
        }

        return texts.Length / clock.Elapsed.TotalSeconds;
    }

    private static float[] Near(float[] centroid, Random random)
    {
        var vector = Noise(random, 0.045f);
        TensorPrimitives.Add(vector, centroid, vector);
        return Unit(vector);
    }

    private static float[] Noise(Random random, float scale)
    {
        var vector = new float[Dimensions];
        for (var i = 0; i < vector.Length; i++)
        {
            // Box-Muller: a normal sample per dimension.
            var u = 1.0 - random.NextDouble();
            vector[i] = scale * (float)(Math.Sqrt(-2.0 * Math.Log(u)) * Math.Cos(2 * Math.PI * random.NextDouble()));
        }

        return vector;
    }

    private static float[] Unit(float[] vector)
    {
        TensorPrimitives.Divide(vector, TensorPrimitives.Norm(vector), vector);
        return vector;
    }
}
