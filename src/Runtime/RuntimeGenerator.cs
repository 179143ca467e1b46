using System.Diagnostics;
using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Runtime;

/// <summary>Autoregressive generation on the runtime: the prompt in one prefill (GEMMs), then one GEMV-driven decode step per token
/// over the session's KV cache, sampling with the one <see cref="TokenSampler"/> that Models' generator also uses. After the
/// prompt, a step allocates nothing.</summary>
public sealed class RuntimeGenerator
{
    /// <summary>A generator for <paramref name="model"/>.</summary>
    public RuntimeGenerator(RuntimeModel model)
    {
        Model = model ?? throw new ArgumentNullException(nameof(model));
        DefaultStopTokenIds = new HashSet<int>(model.Config.EosTokenIds);
    }

    /// <summary>The language model.</summary>
    public RuntimeModel Model { get; }
    /// <summary>The config's eos_token_id(s).</summary>
    public IReadOnlySet<int> DefaultStopTokenIds { get; }

    /// <summary>Generates up to <see cref="RuntimeGenerationOptions.MaxNewTokens"/> tokens after <paramref name="promptIds"/>. A
    /// <paramref name="session"/> of enough length is reused (reset first); without one, a session of exactly prompt + new tokens
    /// is created.</summary>
    public RuntimeGenerationResult Generate(ReadOnlySpan<int> promptIds, RuntimeGenerationOptions? options = null, InferenceSession? session = null)
    {
        var o = options ?? new RuntimeGenerationOptions();
        o.Validate();
        if (promptIds.IsEmpty) throw new ArgumentException("the prompt must hold at least one token id", nameof(promptIds));
        int vocab = Model.Config.VocabSize;
        for (int i = 0; i < promptIds.Length; i++)
            if ((uint)promptIds[i] >= (uint)vocab)
                throw new ArgumentOutOfRangeException(nameof(promptIds), promptIds[i], $"prompt id {promptIds[i]} at index {i} is outside the vocabulary [0, {vocab})");
        // the last generated token is never fed back, so prompt + max new − 1 positions suffice (at least the prompt's)
        int need = promptIds.Length + Math.Max(0, o.MaxNewTokens - 1);
        if (session is null) session = Model.CreateSession(need, kvCache: o.KvCache);
        else if (session.Model != Model) throw new ArgumentException("the session belongs to another model", nameof(session));
        else if (session.MaxSequenceLength < need)
            throw new ArgumentException($"the session holds {session.MaxSequenceLength} positions; this generation needs {need}", nameof(session));
        session.Reset();

        IReadOnlyCollection<int> stops = o.StopTokenIds ?? DefaultStopTokenIds;
        var stopSet = stops as IReadOnlySet<int> ?? new HashSet<int>(stops);
        var sampler = new TokenSampler(o.Sampling);
        var seen = new int[promptIds.Length + o.MaxNewTokens];
        promptIds.CopyTo(seen);
        int count = 0;
        bool stopped = false;

        long t0 = Stopwatch.GetTimestamp();
        session.Append(promptIds);
        var promptLast = session.Logits.ToFloatArray();
        long t1 = Stopwatch.GetTimestamp();
        while (count < o.MaxNewTokens)
        {
            int next = InferenceOps.Sample(sampler, session.Logits, seen.AsSpan(0, promptIds.Length + count));
            seen[promptIds.Length + count++] = next;
            o.OnToken?.Invoke(next);
            if (stopSet.Contains(next)) { stopped = true; break; }
            if (count == o.MaxNewTokens) break;
            session.Decode(next);
        }
        long t2 = Stopwatch.GetTimestamp();
        return new RuntimeGenerationResult
        {
            PromptIds = promptIds.ToArray(),
            GeneratedIds = seen.AsSpan(promptIds.Length, count).ToArray(),
            StoppedAtStopToken = stopped,
            PromptLastLogits = promptLast,
            PrefillTime = Stopwatch.GetElapsedTime(t0, t1),
            DecodeTime = Stopwatch.GetElapsedTime(t1, t2),
        };
    }

    /// <summary>Generates for several prompts at once: each prompt is prefilled into its own sequence of a
    /// <see cref="BatchSession"/>, then every unfinished sequence advances one token per step in one batched forward pass, and
    /// each stops on its own (stop token or budget). Each sequence samples with its own sampler seeded by
    /// <see cref="SamplerSettings"/>, so every result equals <see cref="Generate"/> on that prompt alone.
    /// <paramref name="onToken"/> is called with (prompt index, token id) as tokens are chosen; options' OnToken is not used.
    /// Results are in prompt order; timings are the batch's (prefill: that prompt's own).</summary>
    public RuntimeGenerationResult[] GenerateBatch(IReadOnlyList<int[]> prompts, RuntimeGenerationOptions? options = null,
        Action<int, int>? onToken = null, BatchSession? batch = null)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        var o = options ?? new RuntimeGenerationOptions();
        o.Validate();
        int b = prompts.Count, vocab = Model.Config.VocabSize, need = 0;
        if (b == 0) return [];
        for (int p = 0; p < b; p++)
        {
            var ids = prompts[p] ?? throw new ArgumentException($"prompt {p} is null", nameof(prompts));
            if (ids.Length == 0) throw new ArgumentException($"prompt {p} holds no token ids", nameof(prompts));
            for (int i = 0; i < ids.Length; i++)
                if ((uint)ids[i] >= (uint)vocab)
                    throw new ArgumentOutOfRangeException(nameof(prompts), ids[i], $"prompt {p}: id {ids[i]} at index {i} is outside the vocabulary [0, {vocab})");
            need = Math.Max(need, ids.Length + Math.Max(0, o.MaxNewTokens - 1));
        }
        if (batch is null) batch = Model.CreateBatch(b, need, kvCache: o.KvCache);
        else if (batch.Model != Model) throw new ArgumentException("the batch belongs to another model", nameof(batch));
        else if (batch.BatchSize < b || batch[0].MaxSequenceLength < need)
            throw new ArgumentException($"the batch holds {batch.BatchSize} sequences of {batch[0].MaxSequenceLength} positions; this generation needs {b} of {need}", nameof(batch));

        IReadOnlyCollection<int> stops = o.StopTokenIds ?? DefaultStopTokenIds;
        var stopSet = stops as IReadOnlySet<int> ?? new HashSet<int>(stops);
        var samplers = new TokenSampler[b];
        var seen = new int[b][];
        var count = new int[b];
        var stopped = new bool[b];
        var done = new bool[b];
        var promptLast = new float[b][];
        var prefill = new TimeSpan[b];
        for (int p = 0; p < b; p++)
        {
            samplers[p] = new TokenSampler(o.Sampling);
            seen[p] = new int[prompts[p].Length + o.MaxNewTokens];
            prompts[p].CopyTo(seen[p], 0);
            long t = Stopwatch.GetTimestamp();
            batch[p].Reset();
            batch[p].Append(prompts[p]);
            promptLast[p] = batch[p].Logits.ToFloatArray();
            prefill[p] = Stopwatch.GetElapsedTime(t);
            done[p] = o.MaxNewTokens == 0;
        }
        var rows = new int[b];
        var next = new int[b];
        long t1 = Stopwatch.GetTimestamp();
        while (true)
        {
            int n = 0;
            for (int p = 0; p < b; p++)
            {
                if (done[p]) continue;
                int len = prompts[p].Length;
                int id = InferenceOps.Sample(samplers[p], batch[p].Logits, seen[p].AsSpan(0, len + count[p]));
                seen[p][len + count[p]++] = id;
                onToken?.Invoke(p, id);
                if (stopSet.Contains(id)) { stopped[p] = done[p] = true; continue; }
                if (count[p] == o.MaxNewTokens) { done[p] = true; continue; }
                rows[n] = p; next[n++] = id;
            }
            if (n == 0) break;
            batch.Decode(rows.AsSpan(0, n), next.AsSpan(0, n));
        }
        var decode = Stopwatch.GetElapsedTime(t1);
        var results = new RuntimeGenerationResult[b];
        for (int p = 0; p < b; p++)
            results[p] = new RuntimeGenerationResult
            {
                PromptIds = (int[])prompts[p].Clone(),
                GeneratedIds = seen[p].AsSpan(prompts[p].Length, count[p]).ToArray(),
                StoppedAtStopToken = stopped[p],
                PromptLastLogits = promptLast[p],
                PrefillTime = prefill[p],
                DecodeTime = decode,
            };
        return results;
    }
}
