using System.Collections.Concurrent;
using System.Text;

namespace BitDistill.Models.Tokenization;

/// <summary>BPE merge ranks over token ids, applied to one pre-tokenized word: byte-level (GPT-2, Qwen: the word's UTF-8 bytes are
/// the initial symbols) or SentencePiece style (Gemma, Llama 2: the word's characters, with byte fallback to "&lt;0xNN&gt;" tokens).</summary>
internal sealed class BpeModel
{
    const int MaxCacheEntries = 200_000;

    readonly Dictionary<string, int> _vocab;
    readonly Dictionary<long, (int Rank, int NewId)> _merges;
    readonly int[] _byteToId;
    readonly int? _unkId;
    readonly bool _ignoreMerges;
    readonly bool _byteFallback;
    readonly bool _fuseUnk;
    readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocabBySpan;
    readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    // SentencePiece style: where a word may be cut before a "▁" (null: never). See SplitsAtSpaceMarks.
    readonly (string Token, int At)[]? _crossings;

    public IReadOnlyDictionary<string, int> Vocab => _vocab;
    public int MergeCount => _merges.Count;

    /// <param name="vocab">token string (byte-level characters) → id.</param>
    /// <param name="merges">pairs in rank order.</param>
    /// <param name="source">file name for error messages.</param>
    /// <param name="unkToken">optional unknown token.</param>
    /// <param name="ignoreMerges">look whole words up in the vocabulary before merging (Llama-3 style).</param>
    /// <param name="characterLevel">SentencePiece style: initial symbols are characters looked up as they are, not byte-level characters.</param>
    /// <param name="byteFallback">with <paramref name="characterLevel"/>: a character missing from the vocabulary becomes its UTF-8 bytes' "&lt;0xNN&gt;" tokens.</param>
    /// <param name="fuseUnk">consecutive unknown characters become one unknown token.</param>
    public BpeModel(Dictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges, string source, string? unkToken, bool ignoreMerges,
        bool characterLevel = false, bool byteFallback = false, bool fuseUnk = false)
    {
        _vocab = vocab;
        _ignoreMerges = ignoreMerges;
        CharacterLevel = characterLevel;
        _byteFallback = byteFallback;
        _fuseUnk = fuseUnk;
        _vocabBySpan = vocab.Comparer == StringComparer.Ordinal ? vocab.GetAlternateLookup<ReadOnlySpan<char>>()
            : new Dictionary<string, int>(vocab, StringComparer.Ordinal).GetAlternateLookup<ReadOnlySpan<char>>();
        _merges = new Dictionary<long, (int, int)>(merges.Count, MergeKeyComparer.Instance);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (l, r) = merges[rank];
            if (!vocab.TryGetValue(l, out int a) || !vocab.TryGetValue(r, out int b))
                throw new TokenizerFormatException(source, $"model.merges[{rank}]", $"merge \"{l} {r}\" uses a token that is not in model.vocab");
            if (!vocab.TryGetValue(l + r, out int c))
                throw new TokenizerFormatException(source, $"model.merges[{rank}]", $"merge result \"{l}{r}\" is not in model.vocab");
            _merges.TryAdd(Key(a, b), (rank, c));
        }
        if (unkToken is not null && vocab.TryGetValue(unkToken, out int unk)) _unkId = unk;
        _byteToId = new int[256];
        for (int b = 0; b < 256; b++)
            _byteToId[b] = vocab.TryGetValue(characterLevel ? ByteFallbackToken(b) : ByteLevel.ByteToChar[b].ToString(), out int id) ? id : -1;
        if (characterLevel && !ignoreMerges && vocab.ContainsKey(SpaceMark))
        {
            var crossings = new List<(string, int)>();
            foreach (var t in vocab.Keys)
                for (int j = 1; j < t.Length; j++)
                    if (t[j] == SpaceMarkChar && t[j - 1] != SpaceMarkChar) crossings.Add((t, j));
            if (crossings.Count <= MaxCrossings) _crossings = [.. crossings];
        }
    }

    const char SpaceMarkChar = '\u2581';
    const string SpaceMark = "\u2581";
    const int MaxCrossings = 256;

    /// <summary>SentencePiece-style tokenizers have no pre-tokenizer split (a whole paragraph is one word), so without help
    /// every paragraph is merged from scratch and the word cache never hits. A merge can only join two symbols across the
    /// point before a "▁" that follows another character if its result, a vocabulary token, contains such a "x▁" there; when
    /// the vocabulary has few such tokens (Gemma 3: one, "&gt;▁&lt;/"), a word is cut before every "▁" that no occurrence of
    /// one of them spans, and the pieces are merged (and cached) alone: the same ids, as no merge crosses a cut. Every piece
    /// after the first starts with the known "▁", which also flushes a pending unknown token exactly where the whole word would.</summary>
    public bool SplitsAtSpaceMarks => _crossings is not null;

    /// <summary>Whether initial symbols are characters (SentencePiece style) rather than byte-level characters.</summary>
    public bool CharacterLevel { get; }

    /// <summary>The byte-fallback token of a byte: "&lt;0x0A&gt;" (Hugging Face's <c>format!("&lt;{:#04X}&gt;", b)</c>).</summary>
    public static string ByteFallbackToken(int b) => $"<0x{b:X2}>";

    // Hugging Face's BPE::merge_word: each character (a whole code point) is looked up as it is; a missing one becomes its
    // bytes' <0xNN> tokens when all exist, else unk (consecutive unks fused with fuse_unk). As there, a pending fused unk is
    // only flushed by the next known character or the word's end, so it follows byte-fallback tokens queued meanwhile.
    (int[] Symbols, int Count) CharacterSymbols(string word)
    {
        var sym = new int[Encoding.UTF8.GetByteCount(word)];
        int count = 0;
        int pendingUnk = -1;
        Span<byte> buf = stackalloc byte[4];
        for (int i = 0; i < word.Length;)
        {
            int len = char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
            if (_vocabBySpan.TryGetValue(word.AsSpan(i, len), out int id))
            {
                if (pendingUnk >= 0) { sym[count++] = pendingUnk; pendingUnk = -1; }
                sym[count++] = id;
            }
            else
            {
                bool done = false;
                if (_byteFallback)
                {
                    int nb = Encoding.UTF8.GetBytes(word.AsSpan(i, len), buf);
                    done = true;
                    for (int k = 0; k < nb; k++) done &= _byteToId[buf[k]] >= 0;
                    if (done) for (int k = 0; k < nb; k++) sym[count++] = _byteToId[buf[k]];
                }
                if (!done && _unkId is int u)
                {
                    if (pendingUnk >= 0 && !_fuseUnk) sym[count++] = pendingUnk;
                    pendingUnk = u;
                }
            }
            i += len;
        }
        if (pendingUnk >= 0) sym[count++] = pendingUnk;
        return (sym, count);
    }

    static long Key(int a, int b) => ((long)a << 32) | (uint)b;

    /// <summary>Appends the ids of one pre-tokenized word.</summary>
    public void EncodeWord(string word, List<int> output)
    {
        if (_crossings is null || word.Length < 2) { EncodeCached(word, output); return; }
        int start = 0;
        for (int p = 1; p < word.Length; p++)
            if (word[p] == SpaceMarkChar && word[p - 1] != SpaceMarkChar && p > start && MayCut(word, p))
            {
                EncodeCached(word.Substring(start, p - start), output);
                start = p;
            }
        EncodeCached(start == 0 ? word : word.Substring(start), output);
    }

    /// <summary>The ids of one word merged as a whole, without the cuts of <see cref="SplitsAtSpaceMarks"/> (for tests).</summary>
    internal int[] EncodeWhole(string word) => Merge(word);

    // Whether no occurrence of a crossing token spans the point before word[p].
    bool MayCut(string word, int p)
    {
        foreach (var (t, at) in _crossings!)
        {
            int s = p - at;
            if (s >= 0 && s + t.Length <= word.Length && word.AsSpan(s, t.Length).SequenceEqual(t)) return false;
        }
        return true;
    }

    void EncodeCached(string word, List<int> output)
    {
        if (_cache.TryGetValue(word, out var cached))
        {
            output.AddRange(cached);
            return;
        }
        var ids = Merge(word);
        if (_cache.Count >= MaxCacheEntries) _cache.Clear();
        _cache.TryAdd(word, ids);
        output.AddRange(ids);
    }

    int[] Merge(string word)
    {
        int[] sym;
        int count;
        if (CharacterLevel)
        {
            if (_ignoreMerges && _vocab.TryGetValue(word, out int whole)) return [whole];
            (sym, count) = CharacterSymbols(word);
        }
        else
        {
            var bytes = Encoding.UTF8.GetBytes(word);
            if (_ignoreMerges && _vocab.TryGetValue(ByteLevel.Encode(bytes), out int whole)) return [whole];
            sym = new int[bytes.Length];
            count = 0;
            foreach (byte b in bytes)
            {
                int id = _byteToId[b];
                if (id < 0)
                {
                    if (_unkId is int u) id = u;
                    else continue; // Hugging Face drops characters missing from a vocabulary without unk_token
                }
                sym[count++] = id;
            }
        }
        if (count == 0) return [];
        var prev = new int[count];
        var next = new int[count];
        for (int i = 0; i < count; i++)
        {
            prev[i] = i - 1;
            next[i] = i + 1;
        }
        next[count - 1] = -1;
        if (count == 1) return [sym[0]];

        // Min-heap on (rank, position): lowest rank first, leftmost first among equals, as Hugging Face's merge_all. The
        // priority is one long (rank in the high half), as tuple comparisons dominated long words (SentencePiece-style
        // tokenizers have no pre-tokenizer split, so a whole paragraph is one word).
        var heap = new PriorityQueue<int, long>(count);
        for (int i = 0; i + 1 < count; i++)
            if (_merges.TryGetValue(Key(sym[i], sym[i + 1]), out var m)) heap.Enqueue(i, Key(m.Rank, i));

        var removed = new bool[count];
        while (heap.TryDequeue(out int pos, out long priority))
        {
            if (removed[pos]) continue;
            int right = next[pos];
            if (right < 0) continue;
            // Stale entry: either side changed since it was queued.
            if (!_merges.TryGetValue(Key(sym[pos], sym[right]), out var cur) || cur.Rank != (int)(priority >> 32)) continue;
            sym[pos] = cur.NewId;
            removed[right] = true;
            next[pos] = next[right];
            if (next[pos] >= 0) prev[next[pos]] = pos;
            if (prev[pos] >= 0 && _merges.TryGetValue(Key(sym[prev[pos]], sym[pos]), out var ml))
                heap.Enqueue(prev[pos], Key(ml.Rank, prev[pos]));
            if (next[pos] >= 0 && _merges.TryGetValue(Key(sym[pos], sym[next[pos]]), out var mr))
                heap.Enqueue(pos, Key(mr.Rank, pos));
        }
        var result = new List<int>(count);
        for (int i = 0; i >= 0; i = next[i]) result.Add(sym[i]);
        return result.ToArray();
    }
}
