using System.Collections.Concurrent;
using System.Text;

namespace BitDistill.Models.Tokenization;

/// <summary>Byte-level BPE: merge ranks over token ids, applied to the UTF-8 bytes of one pre-tokenized word.</summary>
internal sealed class BpeModel
{
    const int MaxCacheEntries = 200_000;

    readonly Dictionary<string, int> _vocab;
    readonly Dictionary<long, (int Rank, int NewId)> _merges;
    readonly int[] _byteToId;
    readonly int? _unkId;
    readonly bool _ignoreMerges;
    readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, int> Vocab => _vocab;
    public int MergeCount => _merges.Count;

    /// <param name="vocab">token string (byte-level characters) → id.</param>
    /// <param name="merges">pairs in rank order.</param>
    /// <param name="source">file name for error messages.</param>
    /// <param name="unkToken">optional unknown token.</param>
    /// <param name="ignoreMerges">look whole words up in the vocabulary before merging (Llama-3 style).</param>
    public BpeModel(Dictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges, string source, string? unkToken, bool ignoreMerges)
    {
        _vocab = vocab;
        _ignoreMerges = ignoreMerges;
        _merges = new Dictionary<long, (int, int)>(merges.Count);
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
            _byteToId[b] = vocab.TryGetValue(ByteLevel.ByteToChar[b].ToString(), out int id) ? id : -1;
    }

    static long Key(int a, int b) => ((long)a << 32) | (uint)b;

    /// <summary>Appends the ids of one pre-tokenized word.</summary>
    public void EncodeWord(string word, List<int> output)
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
        var bytes = Encoding.UTF8.GetBytes(word);
        if (_ignoreMerges && _vocab.TryGetValue(ByteLevel.Encode(bytes), out int whole)) return [whole];

        int n = bytes.Length;
        var sym = new int[n];
        var prev = new int[n];
        var next = new int[n];
        int count = 0;
        for (int i = 0; i < n; i++)
        {
            int id = _byteToId[bytes[i]];
            if (id < 0)
            {
                if (_unkId is int u) id = u;
                else continue; // Hugging Face drops characters missing from a vocabulary without unk_token
            }
            sym[count] = id;
            prev[count] = count - 1;
            next[count] = count + 1;
            count++;
        }
        if (count == 0) return [];
        next[count - 1] = -1;
        if (count == 1) return [sym[0]];

        // Min-heap on (rank, position): lowest rank first, leftmost first among equals, as Hugging Face's merge_all.
        var heap = new PriorityQueue<(int Pos, int Right, int NewId), (int Rank, int Pos)>(count);
        for (int i = 0; i + 1 < count; i++)
            if (_merges.TryGetValue(Key(sym[i], sym[i + 1]), out var m)) heap.Enqueue((i, sym[i + 1], m.NewId), (m.Rank, i));

        var removed = new bool[count];
        while (heap.TryDequeue(out var item, out var priority))
        {
            int pos = item.Pos;
            if (removed[pos]) continue;
            int right = next[pos];
            if (right < 0) continue;
            // Stale entry: either side changed since it was queued.
            if (!_merges.TryGetValue(Key(sym[pos], sym[right]), out var cur) || cur.Rank != priority.Rank) continue;
            sym[pos] = cur.NewId;
            removed[right] = true;
            next[pos] = next[right];
            if (next[pos] >= 0) prev[next[pos]] = pos;
            if (prev[pos] >= 0 && _merges.TryGetValue(Key(sym[prev[pos]], sym[pos]), out var ml))
                heap.Enqueue((prev[pos], sym[pos], ml.NewId), (ml.Rank, prev[pos]));
            if (next[pos] >= 0 && _merges.TryGetValue(Key(sym[pos], sym[next[pos]]), out var mr))
                heap.Enqueue((pos, sym[next[pos]], mr.NewId), (mr.Rank, pos));
        }
        var result = new List<int>(count);
        for (int i = 0; i >= 0; i = next[i]) result.Add(sym[i]);
        return result.ToArray();
    }
}
