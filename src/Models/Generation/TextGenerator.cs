using BitDistill.Kernels;
using System.Diagnostics;
using System.Text;
using BitDistill.Autograd;
using BitDistill.Models.Layers;
using BitDistill.Models.Tokenization;
using BitDistill.Tensors;

namespace BitDistill.Models.Generation;

/// <summary>Autoregressive generation with a KV cache: one forward pass over the whole prompt (prefill), then one token per step
/// that reads the cached keys/values in place. Each step runs without autograd and inside its own <see cref="TensorScope"/>, so
/// decoding reuses pooled buffers instead of allocating per token; only the last position goes through the LM head.</summary>
public sealed class TextGenerator
{
    /// <summary>A generator for <paramref name="model"/>; a <paramref name="tokenizer"/> is needed for text in and out only.</summary>
    public TextGenerator(CausalLanguageModel model, TextTokenizer? tokenizer = null)
    {
        Model = model ?? throw new ArgumentNullException(nameof(model));
        Tokenizer = tokenizer;
        DefaultStopTokenIds = StopTokens.Default(model, tokenizer);
    }

    /// <summary>The language model.</summary>
    public CausalLanguageModel Model { get; }
    /// <summary>The tokenizer, if any.</summary>
    public TextTokenizer? Tokenizer { get; }
    /// <summary>The config's eos_token_id(s) and the tokenizer's EOS token.</summary>
    public IReadOnlySet<int> DefaultStopTokenIds { get; }

    /// <summary>Encodes <paramref name="prompt"/> (no special tokens added) and generates from it.</summary>
    public GenerationResult Generate(string prompt, GenerationOptions? options = null)
    {
        var tok = Tokenizer ?? throw new InvalidOperationException("text prompts need a tokenizer; pass one to the TextGenerator or give token ids");
        return Generate(tok.Encode(prompt, addSpecialTokens: false), options);
    }

    /// <summary>Generates up to <see cref="GenerationOptions.MaxNewTokens"/> tokens after <paramref name="promptIds"/> (one sequence).</summary>
    public GenerationResult Generate(int[] promptIds, GenerationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(promptIds);
        var o = options ?? new GenerationOptions();
        o.Validate();
        int vocab = Model.Config.VocabSize;
        if (promptIds.Length == 0) throw new ArgumentException("the prompt must hold at least one token id", nameof(promptIds));
        for (int i = 0; i < promptIds.Length; i++)
            if ((uint)promptIds[i] >= (uint)vocab)
                throw new ArgumentOutOfRangeException(nameof(promptIds), promptIds[i], $"prompt id {promptIds[i]} at index {i} is outside the vocabulary [0, {vocab})");
        var stops = o.StopTokenIds is null ? DefaultStopTokenIds : new HashSet<int>(o.StopTokenIds);
        var sampler = new Sampler(o.Sampling);
        var decoder = Tokenizer is null ? null : new IncrementalDecoder(Tokenizer, o.SkipSpecialTokens);
        var text = new StringBuilder();
        var seen = new List<int>(promptIds);
        var generated = new List<int>(o.MaxNewTokens);
        var stepLogits = o.KeepStepLogits ? new List<float[]>() : null;
        var reason = StopReason.MaxNewTokens;
        var cache = Model.CreateCache(promptIds.Length + Math.Max(1, o.MaxNewTokens));
        var idBuf = new long[1];

        using var noGrad = GradMode.NoGrad();
        var clock = Stopwatch.StartNew();
        int next = Step(promptIds.Select(x => (long)x).ToArray(), cache, o.MaxNewTokens > 0 ? sampler : null, seen, copyLogits: true, out var promptLast);
        if (o.MaxNewTokens > 0) stepLogits?.Add(promptLast!); // the first token is chosen from the prompt's logits
        var prefill = clock.Elapsed;
        clock.Restart();
        while (generated.Count < o.MaxNewTokens)
        {
            generated.Add(next);
            seen.Add(next);
            bool stop = stops.Contains(next);
            string piece = decoder?.Push(next) ?? "";
            text.Append(piece);
            o.OnToken?.Invoke(new GeneratedToken(generated.Count - 1, next, piece, stop));
            if (stop) { reason = StopReason.StopToken; break; }
            if (generated.Count == o.MaxNewTokens) break;
            idBuf[0] = next;
            next = Step(idBuf, cache, sampler, seen, copyLogits: stepLogits is not null, out var logits);
            if (logits is not null) stepLogits!.Add(logits);
        }
        if (decoder is not null) text.Append(decoder.Flush());
        return new GenerationResult
        {
            PromptIds = (int[])promptIds.Clone(),
            GeneratedIds = generated.ToArray(),
            StopReason = reason,
            Text = text.ToString(),
            PromptLastLogits = promptLast!,
            StepLogits = stepLogits,
            PrefillTime = prefill,
            DecodeTime = clock.Elapsed,
        };
    }

    // One forward of new tokens after the cached ones, and the next token chosen from the last one's logits where they stay
    // (only the id comes back); a host copy of the logits only when the result needs it. Every intermediate comes from the
    // pool and goes back when the scope ends; the cache's buffers are allocated outside it. Without a sampler (no tokens
    // wanted) nothing is chosen and −1 is returned.
    private int Step(long[] ids, KvCache cache, Sampler? sampler, List<int> seen, bool copyLogits, out float[]? logits)
    {
        using var scope = TensorScope.Begin();
        var h = Model.Hidden(Tensor.FromArray(ids, [1, ids.Length]), null, null, cache);
        var last = Model.Head(h.Narrow(1, ids.Length - 1, 1)).Value.Contiguous();
        logits = copyLogits ? last.ToFloatArray() : null;
        return sampler?.Next(last, seen) ?? -1;
    }

    /// <summary>The <paramref name="k"/> largest values of <paramref name="logits"/>, largest first (ties: lower id first).</summary>
    public static (int[] Ids, float[] Values) TopK(float[] logits, int k) => LogitsTopK.Select(logits, k);
}
