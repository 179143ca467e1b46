namespace BitDistill.Tensors;

/// <summary>NumPy broadcasting of shapes and the strided layouts that loops walk.</summary>
public static class Broadcast
{
    /// <summary>The broadcast shape of two shapes, or an error naming both.</summary>
    public static int[] Shape(ReadOnlySpan<int> a, ReadOnlySpan<int> b)
    {
        int n = Math.Max(a.Length, b.Length);
        var r = new int[n];
        for (int i = 0; i < n; i++)
        {
            int da = i - (n - a.Length) >= 0 ? a[i - (n - a.Length)] : 1;
            int db = i - (n - b.Length) >= 0 ? b[i - (n - b.Length)] : 1;
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"shapes {Tensor.ShapeString(a)} and {Tensor.ShapeString(b)} cannot be broadcast together");
            r[i] = da == 1 ? db : da;
        }
        return r;
    }

    /// <summary>Strides of x viewed at the broadcast shape (0 on broadcast dims).</summary>
    public static int[] Strides(Tensor x, ReadOnlySpan<int> shape)
    {
        var s = new int[shape.Length];
        int lead = shape.Length - x.Rank;
        for (int i = 0; i < shape.Length; i++)
        {
            if (i < lead) continue;
            int d = x.Shape[i - lead];
            s[i] = d == 1 && shape[i] != 1 ? 0 : x.Strides[i - lead];
            if (d != 1 && d != shape[i]) throw new ArgumentException($"shape {Tensor.ShapeString(x.Shape)} does not broadcast to {Tensor.ShapeString(shape)}");
        }
        return s;
    }

    /// <summary>Merges adjacent dims that every operand walks contiguously, so inner loops are long.
    /// Returns the coalesced shape and one stride array per operand.</summary>
    public static (int[] shape, int[][] strides) Coalesce(ReadOnlySpan<int> shape, params int[][] strides)
    {
        var sh = new List<int>(); var st = new List<int>[strides.Length];
        for (int k = 0; k < strides.Length; k++) st[k] = new List<int>();
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] == 1) continue;
            if (sh.Count > 0)
            {
                bool merge = true;
                for (int k = 0; k < strides.Length && merge; k++)
                    merge = st[k][^1] == strides[k][i] * shape[i];
                if (merge)
                {
                    sh[^1] *= shape[i];
                    for (int k = 0; k < strides.Length; k++) st[k][^1] = strides[k][i];
                    continue;
                }
            }
            sh.Add(shape[i]);
            for (int k = 0; k < strides.Length; k++) st[k].Add(strides[k][i]);
        }
        if (sh.Count == 0) { sh.Add(1); for (int k = 0; k < strides.Length; k++) st[k].Add(0); }
        return (sh.ToArray(), st.Select(l => l.ToArray()).ToArray());
    }
}
