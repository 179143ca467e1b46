namespace BitDistill.Kernels;

/// <summary>The k largest values of a row of logits, largest first (ties: the lower id first), in one pass with an insertion
/// list of k entries.</summary>
public static class LogitsTopK
{
    /// <summary>The ids and values of the <paramref name="k"/> largest entries of <paramref name="logits"/>.</summary>
    public static (int[] Ids, float[] Values) Select(ReadOnlySpan<float> logits, int k)
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
