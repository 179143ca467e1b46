namespace BitDistill.Distill.Data;

/// <summary>Deterministic, non-overlapping splits: rows are grouped by their input (<see cref="TaskExample.InputKey"/>), so
/// identical inputs never land on both sides; groups are ordered by a seeded hash of the input (independent of file order)
/// and dealt out to the held-out splits first; each split keeps file order.</summary>
public static class TaskSplitter
{
    /// <summary>Splits <paramref name="rows"/> into (rest, held-out 1, held-out 2, ...) with held-out sizes of about
    /// fraction × count rows each.</summary>
    public static IReadOnlyList<TaskExample>[] Split(IReadOnlyList<TaskExample> rows, IReadOnlyList<double> heldOutFractions, ulong seed)
    {
        double total = 0;
        foreach (var f in heldOutFractions)
        {
            if (!(f >= 0 && f < 1)) throw new ArgumentOutOfRangeException(nameof(heldOutFractions), f, "a split fraction must be in [0, 1)");
            total += f;
        }
        if (total >= 1) throw new ArgumentOutOfRangeException(nameof(heldOutFractions), total, "the held-out fractions must sum to less than 1");
        var groups = Enumerable.Range(0, rows.Count).GroupBy(i => rows[i].InputKey, StringComparer.Ordinal)
            .Select(g => (Hash: Hash(g.Key, seed), Key: g.Key, Rows: g.ToArray()))
            .OrderBy(g => g.Hash).ThenBy(g => g.Key, StringComparer.Ordinal).ToArray();
        var parts = new List<int>[heldOutFractions.Count + 1];
        for (int i = 0; i < parts.Length; i++) parts[i] = [];
        int next = 0;
        for (int s = 0; s < heldOutFractions.Count; s++)
        {
            int want = (int)Math.Round(heldOutFractions[s] * rows.Count);
            while (parts[s + 1].Count < want && next < groups.Length) parts[s + 1].AddRange(groups[next++].Rows);
        }
        for (; next < groups.Length; next++) parts[0].AddRange(groups[next].Rows);
        return parts.Select(p => (IReadOnlyList<TaskExample>)p.Order().Select(i => rows[i]).ToArray()).ToArray();
    }

    /// <summary>FNV-1a over the UTF-16 code units, finished with a SplitMix64 mix of the seed: stable across runs and platforms.</summary>
    internal static ulong Hash(string s, ulong seed)
    {
        ulong h = 14695981039346656037UL ^ seed;
        foreach (char c in s) { h ^= c; h *= 1099511628211UL; }
        h += 0x9E3779B97F4A7C15UL + seed;
        h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9UL;
        h = (h ^ (h >> 27)) * 0x94D049BB133111EBUL;
        return h ^ (h >> 31);
    }
}
