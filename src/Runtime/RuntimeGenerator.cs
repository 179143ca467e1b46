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
    public RuntimeGenerator(QwenRuntimeModel model)
    {
        Model = model ?? throw new ArgumentNullException(nameof(model));
        DefaultStopTokenIds = new HashSet<int>(model.Config.EosTokenIds);
    }

    /// <summary>The language model.</summary>
    public QwenRuntimeModel Model { get; }
    /// <summary>The config's eos_token_id(s).</summary>
    public IReadOnlySet<int> DefaultStopTokenIds { get; }

    /// <summary>Generates up to <see cref="RuntimeGenerationOptions.MaxNewTokens"/> tokens after <paramref name="promptIds"/>. A
    /// <paramref name="session"/> of enough length is reused (reset first); without one, a session of exactly prompt + new tokens
    /// is created.</summary>
    public RuntimeGenerationResult Generate(ReadOnlySpan<int> promptIds, RuntimeGenerationOptions? options = null, QwenInferenceSession? session = null)
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
        if (session is null) session = Model.CreateSession(need);
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
}
