using BitDistill.Kernels;
using BitDistill.Autograd;
using BitDistill.Models.Layers;
using BitDistill.Models.Tokenization;
using BitDistill.Tensors;

namespace BitDistill.Models.Generation;

/// <summary>Greedy generation of many prompts at once, for evaluation: each batch is left-padded to its longest prompt and goes
/// through ONE forward pass per step with a shared KV cache; the attention mask hides the padding and gives every row the
/// positions it would have alone (as Hugging Face derives position_ids from the mask), so each row's tokens are those of
/// <see cref="TextGenerator"/> run greedily on that prompt alone. A finished row stays in the batch as masked padding until
/// the whole batch is done.</summary>
public sealed class BatchedGenerator
{
    // Greedy choice with the sampler's checks (non-finite logits are an error, as in TextGenerator); it keeps no state per row.
    private readonly TokenSampler _greedy = new(new SamplerSettings { Greedy = true });

    /// <summary>A generator for <paramref name="model"/>; a <paramref name="tokenizer"/> is needed for text in and out only.</summary>
    public BatchedGenerator(CausalLanguageModel model, TextTokenizer? tokenizer = null)
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

    /// <summary>Encodes each prompt (no special tokens added) and generates from all of them.</summary>
    public IReadOnlyList<BatchedSequence> Generate(IReadOnlyList<string> prompts, BatchedGenerationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        var tok = Tokenizer ?? throw new InvalidOperationException("text prompts need a tokenizer; pass one to the BatchedGenerator or give token ids");
        return Generate(prompts.Select(p => tok.Encode(p ?? throw new ArgumentException("a prompt is null", nameof(prompts)), addSpecialTokens: false)).ToArray(), options);
    }

    /// <summary>Greedy continuations of <paramref name="prompts"/>, in the order given.</summary>
    public IReadOnlyList<BatchedSequence> Generate(IReadOnlyList<int[]> prompts, BatchedGenerationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        var o = options ?? new BatchedGenerationOptions();
        o.Validate();
        int vocab = Model.Config.VocabSize;
        for (int p = 0; p < prompts.Count; p++)
        {
            var ids = prompts[p] ?? throw new ArgumentException($"prompt {p} is null", nameof(prompts));
            if (ids.Length == 0) throw new ArgumentException($"prompt {p} is empty; each prompt must hold at least one token id", nameof(prompts));
            for (int i = 0; i < ids.Length; i++)
                if ((uint)ids[i] >= (uint)vocab)
                    throw new ArgumentOutOfRangeException(nameof(prompts), ids[i], $"prompt {p}: id {ids[i]} at index {i} is outside the vocabulary [0, {vocab})");
        }
        int pad = o.PadTokenId ?? Tokenizer?.PadId ?? 0;
        if (pad >= vocab) throw new ArgumentOutOfRangeException(nameof(options), pad, $"the pad id {pad} is outside the vocabulary [0, {vocab})");
        var stops = o.StopTokenIds is null ? DefaultStopTokenIds : new HashSet<int>(o.StopTokenIds);

        var order = Enumerable.Range(0, prompts.Count).ToArray();
        if (o.SortByLength) order = [.. order.OrderByDescending(i => prompts[i].Length)];   // stable: equal lengths keep input order
        var results = new BatchedSequence[prompts.Count];
        using var noGrad = GradMode.NoGrad();
        for (int start = 0; start < order.Length; start += o.BatchSize)
        {
            var rows = order.AsSpan(start, Math.Min(o.BatchSize, order.Length - start)).ToArray();
            var generated = GenerateBatch(rows.Select(i => prompts[i]).ToArray(), o.MaxNewTokens, stops, pad);
            for (int r = 0; r < rows.Length; r++)
            {
                var (ids, reason) = generated[r];
                results[rows[r]] = new BatchedSequence
                {
                    PromptIds = (int[])prompts[rows[r]].Clone(),
                    GeneratedIds = ids,
                    StopReason = reason,
                    Text = Tokenizer?.Decode(ids, skipSpecialTokens: true, showUnassigned: true) ?? "",
                };
            }
            o.OnProgress?.Invoke(start + rows.Length, order.Length);
        }
        return results;
    }

    // One batch: prefill the left-padded prompts, then one token per step for every row still running.
    private (int[] Ids, StopReason Reason)[] GenerateBatch(int[][] prompts, int maxNew, IReadOnlySet<int> stops, int pad)
    {
        int b = prompts.Length, len = prompts.Max(p => p.Length);
        var outputs = new List<int>[b];
        var reasons = new StopReason[b];
        var done = new bool[b];
        for (int r = 0; r < b; r++) { outputs[r] = new List<int>(maxNew); reasons[r] = StopReason.MaxNewTokens; }
        if (maxNew == 0) return [.. outputs.Select((x, r) => (x.ToArray(), reasons[r]))];

        // mask rows of the whole sequence so far (cached + new), 1 = token, 0 = padding; grown by one column per step
        var mask = new List<float>[b];
        var ids = new long[b * len];
        for (int r = 0; r < b; r++)
        {
            int offset = len - prompts[r].Length;
            mask[r] = new List<float>(len + maxNew);
            for (int j = 0; j < len; j++)
            {
                bool real = j >= offset;
                ids[r * len + j] = real ? prompts[r][j - offset] : pad;
                mask[r].Add(real ? 1 : 0);
            }
        }
        var cache = Model.CreateCache(len + maxNew);
        var chosen = new int[b];
        Step(ids, b, len, mask, cache, done, chosen);
        var next = new long[b];
        for (int step = 0; ; step++)
        {
            int running = 0;
            for (int r = 0; r < b; r++)
            {
                if (done[r]) { next[r] = pad; mask[r].Add(0); continue; }
                int token = chosen[r];
                outputs[r].Add(token);
                if (stops.Contains(token)) { done[r] = true; reasons[r] = StopReason.StopToken; }
                else if (outputs[r].Count == maxNew) done[r] = true;
                else running++;
                next[r] = token;
                mask[r].Add(done[r] ? 0 : 1);
            }
            if (running == 0) break;
            Step(next, b, 1, mask, cache, done, chosen);
        }
        return [.. outputs.Select((x, r) => (x.ToArray(), reasons[r]))];
    }

    // One forward of t new tokens per row after the cached ones; the greedy token of each running row's last position lands in
    // `chosen`, picked where the logits are (only the ids come back to the host).
    private void Step(long[] ids, int b, int t, List<float>[] mask, KvCache cache, bool[] done, int[] chosen)
    {
        using var scope = TensorScope.Begin();
        int s = mask[0].Count;
        var m = new float[b * s];
        for (int r = 0; r < b; r++) mask[r].CopyTo(m, r * s);
        var h = Model.Hidden(Tensor.FromArray(ids, [b, t]), Tensor.FromArray(m, [b, s]), null, cache);
        var last = Model.Head(h.Narrow(1, t - 1, 1)).Value.Contiguous();
        for (int r = 0; r < b; r++) chosen[r] = done[r] ? -1 : last.Backend.SampleToken(last.Narrow(0, r, 1), _greedy, []);
    }
}
