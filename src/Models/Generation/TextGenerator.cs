using System.Diagnostics;
using System.Text;
using BitDistill.Autograd;
using BitDistill.Models.Layers;
using BitDistill.Models.Qwen;
using BitDistill.Models.Tokenization;
using BitDistill.Tensors;

namespace BitDistill.Models.Generation;

/// <summary>What <see cref="TextGenerator.Generate(int[], GenerationOptions?)"/> does: how many tokens, how each is chosen, when to stop,
/// and whom to tell about each new token.</summary>
public sealed record GenerationOptions
{
    /// <summary>Most tokens to generate (the stop token, if one is generated, counts and is included in the result).</summary>
    public int MaxNewTokens { get; init; } = 64;
    /// <summary>How the next token is chosen (greedy, temperature, top-k, top-p, repetition penalty, seed).</summary>
    public SamplingOptions Sampling { get; init; } = new();
    /// <summary>Ids that end generation; null = <see cref="TextGenerator.DefaultStopTokenIds"/> (the config's eos ids and the
    /// tokenizer's EOS); empty = never stop early.</summary>
    public IReadOnlyCollection<int>? StopTokenIds { get; init; }
    /// <summary>Called once per generated token, in order, as soon as it is chosen (streaming).</summary>
    public Action<GeneratedToken>? OnToken { get; init; }
    /// <summary>Leave special tokens (such as the EOS text) out of the streamed and returned text.</summary>
    public bool SkipSpecialTokens { get; init; } = true;
    /// <summary>Keep a copy of the logits each generated token was chosen from (before sampling penalties), for checks.</summary>
    public bool KeepStepLogits { get; init; }

    /// <summary>Throws on out-of-range values, naming the field.</summary>
    public void Validate()
    {
        if (MaxNewTokens < 0) throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), MaxNewTokens, "max new tokens must be ≥ 0");
        ArgumentNullException.ThrowIfNull(Sampling);
        Sampling.Validate();
    }
}

/// <summary>One generated token as streamed: its index among the new tokens, its id, the text it completes (empty while a
/// multi-byte character is still split, or without a tokenizer), and whether it is a stop token.</summary>
public readonly record struct GeneratedToken(int Index, int Id, string Text, bool IsStop);

/// <summary>Why generation ended.</summary>
public enum StopReason
{
    /// <summary>A stop token was generated.</summary>
    StopToken,
    /// <summary><see cref="GenerationOptions.MaxNewTokens"/> tokens were generated.</summary>
    MaxNewTokens,
}

/// <summary>The outcome of one generation: ids, text, the logits at the last prompt position, timings.</summary>
public sealed class GenerationResult
{
    /// <summary>The prompt as given.</summary>
    public required int[] PromptIds { get; init; }
    /// <summary>The new tokens, including a final stop token if one ended generation.</summary>
    public required int[] GeneratedIds { get; init; }
    /// <summary>Why generation ended.</summary>
    public required StopReason StopReason { get; init; }
    /// <summary>The decoded new tokens (empty without a tokenizer).</summary>
    public required string Text { get; init; }
    /// <summary>Raw logits [vocab] at the last prompt position (what the first new token was chosen from).</summary>
    public required float[] PromptLastLogits { get; init; }
    /// <summary>With <see cref="GenerationOptions.KeepStepLogits"/>: the raw logits each generated token was chosen from.</summary>
    public IReadOnlyList<float[]>? StepLogits { get; init; }
    /// <summary>Time of the prompt's forward pass.</summary>
    public TimeSpan PrefillTime { get; init; }
    /// <summary>Time of the one-token steps after it (sampling included).</summary>
    public TimeSpan DecodeTime { get; init; }
    /// <summary>Generated tokens after the first per second of <see cref="DecodeTime"/> (0 when fewer than two).</summary>
    public double DecodeTokensPerSecond => GeneratedIds.Length > 1 && DecodeTime > TimeSpan.Zero ? (GeneratedIds.Length - 1) / DecodeTime.TotalSeconds : 0;
}

/// <summary>Autoregressive generation with a KV cache: one forward pass over the whole prompt (prefill), then one token per step
/// that reads the cached keys/values in place. Each step runs without autograd and inside its own <see cref="TensorScope"/>, so
/// decoding reuses pooled buffers instead of allocating per token; only the last position goes through the LM head.</summary>
public sealed class TextGenerator
{
    /// <summary>A generator for <paramref name="model"/>; a <paramref name="tokenizer"/> is needed for text in and out only.</summary>
    public TextGenerator(QwenModel model, TextTokenizer? tokenizer = null)
    {
        Model = model ?? throw new ArgumentNullException(nameof(model));
        Tokenizer = tokenizer;
        var stops = new HashSet<int>(model.Config.EosTokenIds);
        if (tokenizer?.EosId is int eos) stops.Add(eos);
        DefaultStopTokenIds = stops;
    }

    /// <summary>The language model.</summary>
    public QwenModel Model { get; }
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
        var logits = new float[vocab];
        var promptLast = new float[vocab];
        var reason = StopReason.MaxNewTokens;
        var cache = new KvCache(Model.Config.NumHiddenLayers, promptIds.Length + Math.Max(1, o.MaxNewTokens));
        var idBuf = new long[1];

        using var noGrad = GradMode.NoGrad();
        var clock = Stopwatch.StartNew();
        Step(promptIds.Select(x => (long)x).ToArray(), cache, logits);
        logits.CopyTo(promptLast, 0);
        var prefill = clock.Elapsed;
        clock.Restart();
        while (generated.Count < o.MaxNewTokens)
        {
            stepLogits?.Add((float[])logits.Clone());
            int next = sampler.Next(logits, seen);
            generated.Add(next);
            seen.Add(next);
            bool stop = stops.Contains(next);
            string piece = decoder?.Push(next) ?? "";
            text.Append(piece);
            o.OnToken?.Invoke(new GeneratedToken(generated.Count - 1, next, piece, stop));
            if (stop) { reason = StopReason.StopToken; break; }
            if (generated.Count == o.MaxNewTokens) break;
            idBuf[0] = next;
            Step(idBuf, cache, logits);
        }
        if (decoder is not null) text.Append(decoder.Flush());
        return new GenerationResult
        {
            PromptIds = (int[])promptIds.Clone(),
            GeneratedIds = generated.ToArray(),
            StopReason = reason,
            Text = text.ToString(),
            PromptLastLogits = promptLast,
            StepLogits = stepLogits,
            PrefillTime = prefill,
            DecodeTime = clock.Elapsed,
        };
    }

    // One forward of new tokens after the cached ones; the logits of the last one land in `logits`. Every intermediate comes
    // from the pool and goes back when the scope ends; the cache's buffers are allocated outside it.
    private void Step(long[] ids, KvCache cache, float[] logits)
    {
        using var scope = TensorScope.Begin();
        var h = Model.Model.Forward(Tensor.FromArray(ids, [1, ids.Length]), null, null, cache);
        var last = Model.Head(h.Narrow(1, ids.Length - 1, 1)).Value.Contiguous();
        last.CopyToHost<float>(logits);
    }

    /// <summary>The <paramref name="k"/> largest values of <paramref name="logits"/>, largest first (ties: lower id first).</summary>
    public static (int[] Ids, float[] Values) TopK(ReadOnlySpan<float> logits, int k)
    {
        k = Math.Min(k, logits.Length);
        var ids = new int[k];
        var vals = new float[k];
        int n = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            float x = logits[i];
            if (n == k && !(x > vals[k - 1])) continue;
            int j = n < k ? n++ : k - 1;
            while (j > 0 && x > vals[j - 1]) { ids[j] = ids[j - 1]; vals[j] = vals[j - 1]; j--; }
            ids[j] = i; vals[j] = x;
        }
        return (ids, vals);
    }
}

/// <summary>Turns a stream of token ids into text piece by piece: a UTF-8 character whose bytes are split across tokens is held
/// back until its last byte arrives, so each piece is printable as soon as it is returned (as Hugging Face's TextStreamer).</summary>
public sealed class IncrementalDecoder(TextTokenizer tokenizer, bool skipSpecialTokens = true)
{
    private readonly Decoder _utf8 = new UTF8Encoding(false, false).GetDecoder();
    private readonly List<byte> _bytes = new();
    private char[] _chars = new char[64];

    /// <summary>Adds one token and returns the text it completes (possibly empty).</summary>
    public string Push(int id)
    {
        _bytes.Clear();
        tokenizer.AppendBytes(id, _bytes, skipSpecialTokens);
        return Convert(flush: false);
    }

    /// <summary>Returns what is still held back (an incomplete character becomes U+FFFD) and resets.</summary>
    public string Flush()
    {
        _bytes.Clear();
        return Convert(flush: true);
    }

    private string Convert(bool flush)
    {
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_bytes);
        int need = _utf8.GetCharCount(span, flush);
        if (need > _chars.Length) _chars = new char[Math.Max(need, 2 * _chars.Length)];
        int n = _utf8.GetChars(span, _chars, flush);
        return n == 0 ? "" : new string(_chars, 0, n);
    }
}
