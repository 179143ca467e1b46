using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace BitDistill.Models.Tokenization;

/// <summary>Trains a byte-level BPE vocabulary (256 byte tokens, merges by pair frequency, special tokens) as a Hugging Face tokenizer.json.</summary>
/// <remarks>Counts unique pre-tokenized words once, then keeps pair counts incrementally: each merge only revisits the words that
/// contain the merged pair. Ties between equally frequent pairs go to the pair of smaller (left id, right id), so output is deterministic.</remarks>
public static class BpeTrainer
{
    /// <summary>The split regex of Qwen2/Qwen2.5/Qwen3 (GPT-4-like, single digits).</summary>
    public const string QwenSplitPattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Trains on <paramref name="texts"/> until the vocabulary (bytes + merges + special tokens) reaches <paramref name="vocabSize"/> or no pair is frequent enough.</summary>
    /// <exception cref="ArgumentOutOfRangeException">vocabSize is smaller than 256 + the special tokens.</exception>
    /// <exception cref="InvalidDataException">The texts are empty or whitespace only: nothing to learn merges from.</exception>
    public static BpeTrainingResult Train(IEnumerable<string> texts, int vocabSize, BpeTrainerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(texts);
        options ??= new BpeTrainerOptions();
        var specials = options.SpecialTokens.Distinct().ToList();
        int minVocab = 256 + specials.Count;
        if (vocabSize < minVocab)
            throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize, $"vocab size must be at least {minVocab} (256 bytes + {specials.Count} special tokens)");
        var sw = Stopwatch.StartNew();
        var regex = new Regex(options.SplitPattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);

        // 1. Unique pre-tokenized words with their frequencies.
        var wordCounts = new Dictionary<string, int>(StringComparer.Ordinal);
        var lookup = wordCounts.GetAlternateLookup<ReadOnlySpan<char>>();
        var matcher = new AddedTokenMatcher(specials.Select((s, i) => new AddedToken(i, s, true)));
        var ranges = new List<(int Start, int End)>();
        long chars = 0;
        bool anyText = false;
        foreach (var text in texts)
        {
            if (string.IsNullOrEmpty(text)) continue;
            chars += text.Length;
            anyText = anyText || !string.IsNullOrWhiteSpace(text);
            foreach (var seg in matcher.Split(text))
            {
                if (seg.TokenId >= 0) continue;
                string piece = seg.Start == 0 && seg.Length == text.Length ? text : text.Substring(seg.Start, seg.Length);
                ranges.Clear();
                CodePointRegex.Matches(regex, piece, ranges);
                int last = 0;
                foreach (var (s, e) in ranges)
                {
                    if (s > last) Count(lookup, piece.AsSpan(last, s - last));
                    if (e > s) Count(lookup, piece.AsSpan(s, e - s));
                    last = e;
                }
                if (last < piece.Length) Count(lookup, piece.AsSpan(last));
            }
        }
        if (!anyText) throw new InvalidDataException($"no text to train on: the input ({chars:N0} chars) is empty or whitespace only");
        options.Progress?.Report($"pre-tokenized {chars:N0} chars into {wordCounts.Count:N0} unique words ({sw.Elapsed.TotalSeconds:F1} s)");

        // 2. Words as byte ids; pair counts and where each pair occurs.
        int nWords = wordCounts.Count;
        var words = new int[nWords][];
        var lengths = new int[nWords];
        var freqs = new long[nWords];
        var pairCounts = new Dictionary<long, long>();
        var where = new Dictionary<long, List<int>>();
        {
            int w = 0;
            foreach (var (word, count) in wordCounts)
            {
                var bytes = Encoding.UTF8.GetBytes(word);
                var syms = new int[bytes.Length];
                for (int i = 0; i < bytes.Length; i++) syms[i] = bytes[i];
                words[w] = syms;
                lengths[w] = syms.Length;
                freqs[w] = count;
                for (int i = 0; i + 1 < syms.Length; i++)
                {
                    long key = Key(syms[i], syms[i + 1]);
                    pairCounts[key] = pairCounts.GetValueOrDefault(key) + count;
                    if (!where.TryGetValue(key, out var list)) where[key] = list = [];
                    if (list.Count == 0 || list[^1] != w) list.Add(w);
                }
                w++;
            }
        }
        wordCounts.Clear();

        // 3. Merge the most frequent pair until the vocabulary is full.
        var tokens = new List<string>(vocabSize);
        for (int b = 0; b < 256; b++) tokens.Add(ByteLevel.ByteToChar[b].ToString());
        var tokenIds = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int b = 0; b < 256; b++) tokenIds[tokens[b]] = b;
        var merges = new List<(string, string)>();
        var heap = new PriorityQueue<long, (long NegCount, long Key)>();
        foreach (var (key, c) in pairCounts) heap.Enqueue(key, (-c, key));
        var stamp = new int[nWords];
        Array.Fill(stamp, -1);
        var touched = new HashSet<long>();
        int targetTokens = vocabSize - specials.Count;
        int minFreq = Math.Max(1, options.MinFrequency);

        while (tokens.Count < targetTokens && heap.TryDequeue(out long pair, out var pri))
        {
            long current = pairCounts.GetValueOrDefault(pair);
            if (current != -pri.NegCount)
            {
                if (current > 0) heap.Enqueue(pair, (-current, pair));
                continue;
            }
            if (current < minFreq) break;
            int a = (int)(pair >> 32), b = (int)(pair & 0xFFFFFFFF);
            string merged = tokens[a] + tokens[b];
            if (!tokenIds.TryGetValue(merged, out int newId))
            {
                newId = tokens.Count;
                tokens.Add(merged);
                tokenIds[merged] = newId;
            }
            merges.Add((tokens[a], tokens[b]));
            int mergeIndex = merges.Count;
            touched.Clear();
            foreach (int w in where[pair])
            {
                if (stamp[w] == mergeIndex) continue;
                stamp[w] = mergeIndex;
                var syms = words[w];
                int len = lengths[w];
                long f = freqs[w];
                bool found = false;
                for (int i = 0; i + 1 < len; i++) if (syms[i] == a && syms[i + 1] == b) { found = true; break; }
                if (!found) continue;
                for (int i = 0; i + 1 < len; i++) pairCounts[Key(syms[i], syms[i + 1])] -= f;
                int write = 0;
                for (int i = 0; i < len; i++)
                {
                    if (i + 1 < len && syms[i] == a && syms[i + 1] == b) { syms[write++] = newId; i++; }
                    else syms[write++] = syms[i];
                }
                lengths[w] = len = write;
                for (int i = 0; i + 1 < len; i++)
                {
                    long key = Key(syms[i], syms[i + 1]);
                    pairCounts[key] = pairCounts.GetValueOrDefault(key) + f;
                    if (syms[i] == newId || syms[i + 1] == newId)
                    {
                        touched.Add(key);
                        if (!where.TryGetValue(key, out var list)) where[key] = list = [];
                        if (list.Count == 0 || list[^1] != w) list.Add(w);
                    }
                }
            }
            where.Remove(pair);
            pairCounts.Remove(pair);
            foreach (long key in touched)
            {
                long c = pairCounts.GetValueOrDefault(key);
                if (c > 0) heap.Enqueue(key, (-c, key));
            }
            if (merges.Count % 500 == 0)
                options.Progress?.Report($"merges {merges.Count:N0} / {targetTokens - 256:N0}, vocab {tokens.Count + specials.Count:N0} ({sw.Elapsed.TotalSeconds:F1} s)");
        }
        options.Progress?.Report($"trained {merges.Count:N0} merges, vocab {tokens.Count + specials.Count:N0} in {sw.Elapsed.TotalSeconds:F1} s");

        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < tokens.Count; i++) vocab[tokens[i]] = i;
        var added = specials.Select((s, i) => new AddedToken(tokens.Count + i, s, true, Normalized: false)).ToList();
        return new BpeTrainingResult(vocab, merges, added, options.SplitPattern);
    }

    static void Count(Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> lookup, ReadOnlySpan<char> word)
    {
        if (lookup.TryGetValue(word, out int c)) lookup[word] = c + 1;
        else lookup[word] = 1;
    }

    static long Key(int a, int b) => ((long)a << 32) | (uint)b;
}
