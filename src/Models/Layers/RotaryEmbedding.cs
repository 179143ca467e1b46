using BitDistill.Tensors;

namespace BitDistill.Models.Layers;

/// <summary>Rotary position embedding tables (Hugging Face rotate-half convention): inv_freq_i = 1/θ^(2i/d), angle = p·inv_freq_i,
/// cos/sin rows = [cos(angles), cos(angles)] and [sin(angles), sin(angles)]. Angles and their cos/sin are computed in double and
/// rounded once to float; the table for positions 0..n−1 is cached per device and grown (doubling) when a longer one is needed.</summary>
public sealed class RotaryEmbedding
{
    private readonly Lock _lock = new();
    private readonly Dictionary<Device, (Tensor cos, Tensor sin)> _tables = new();

    /// <summary>Tables for heads of width <paramref name="headDim"/> (even) with base <paramref name="theta"/>; a
    /// <paramref name="linearScaling"/> factor f divides every frequency by f (Hugging Face's "linear" rope_scaling).</summary>
    public RotaryEmbedding(int headDim, double theta, double linearScaling = 1)
    {
        if (headDim <= 0 || headDim % 2 != 0) throw new ArgumentException($"rotary head dim must be positive and even, got {headDim}");
        if (!(linearScaling > 0)) throw new ArgumentException($"rotary scaling factor must be positive, got {linearScaling}");
        HeadDim = headDim; Theta = theta; LinearScaling = linearScaling;
    }

    /// <summary>The linear scaling factor (1: none).</summary>
    public double LinearScaling { get; }

    /// <summary>Width of one head.</summary>
    public int HeadDim { get; }
    /// <summary>RoPE base θ.</summary>
    public double Theta { get; }

    /// <summary>cos and sin [length, HeadDim] for positions 0..length−1 (views of the cached tables; do not modify).</summary>
    public (Tensor Cos, Tensor Sin) Table(int length, Device? device = null)
    {
        device ??= Device.Default;
        lock (_lock)
        {
            if (!_tables.TryGetValue(device, out var t) || t.cos.Shape[0] < length)
            {
                int n = Math.Max(64, (int)Math.Min(int.MaxValue / 2, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)length)));
                // long-lived: a table built inside a forward's TensorScope must not return to the pool with it
                using (TensorScope.Suspend()) t = Build(n, device);
                _tables[device] = t;
            }
            return (t.cos.Narrow(0, 0, length), t.sin.Narrow(0, 0, length));
        }
    }

    private (Tensor, Tensor) Build(int n, Device device)
    {
        int d = HeadDim, h = d / 2;
        var invFreq = new double[h];
        for (int i = 0; i < h; i++) invFreq[i] = 1.0 / Math.Pow(Theta, 2.0 * i / d) / LinearScaling;
        var cos = new float[n * d];
        var sin = new float[n * d];
        for (int p = 0; p < n; p++)
            for (int i = 0; i < h; i++)
            {
                double a = p * invFreq[i];
                cos[p * d + i] = cos[p * d + i + h] = (float)Math.Cos(a);
                sin[p * d + i] = sin[p * d + i + h] = (float)Math.Sin(a);
            }
        return (Tensor.FromArray(cos, [n, d], device), Tensor.FromArray(sin, [n, d], device));
    }

    /// <summary>Tables for the positions of a batch: <paramref name="positions"/> is [batch][time]. Rows that share one position
    /// list share one table (the common case: no padding, or right padding only).</summary>
    public RotaryTables ForPositions(int[][] positions, Device? device = null)
    {
        device ??= Device.Default;
        int t = positions.Length == 0 ? 0 : positions[0].Length;
        bool shared = positions.All(p => p.AsSpan().SequenceEqual(positions[0]));
        var rows = shared ? positions.Take(1) : positions;
        var cos = new List<Tensor>(); var sin = new List<Tensor>();
        foreach (var p in rows)
        {
            if (p.Length != t) throw new ArgumentException("every batch row needs the same number of positions");
            int max = p.Length == 0 ? 0 : p.Max();
            if (p.Length > 0 && p.Min() < 0) throw new ArgumentException($"rotary positions must be non-negative, got {p.Min()}");
            var (c, s) = Table(max + 1, device);
            bool consecutive = true;
            for (int i = 1; i < p.Length && consecutive; i++) consecutive = p[i] == p[0] + i;
            if (consecutive && p.Length > 0) { cos.Add(c.Narrow(0, p[0], t)); sin.Add(s.Narrow(0, p[0], t)); }
            else
            {
                var idx = Tensor.FromArray(p.Select(x => (long)x).ToArray(), [t], device);
                cos.Add(c.IndexSelect(0, idx)); sin.Add(s.IndexSelect(0, idx));
            }
        }
        return new RotaryTables(cos, sin);
    }
}
