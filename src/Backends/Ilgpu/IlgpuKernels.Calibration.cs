using ILGPU;
using ILGPU.Algorithms;

namespace BitDistill.Backends.Ilgpu;

// AWQ's grid search on the device (the semantics of TernaryCalibration.AwqFromStatistics): the input scales of each α come
// from the host (bit for bit the host solver's), the codes from the absmean kernels, and each row's closed-form score
// terms from one thread per row over the Gram matrix, so only the grid's errors are read back.
internal static partial class IlgpuKernels
{
    private static bool NonFinite(float v) => float.IsNaN(v) || float.IsInfinity(v);

    /// <summary>One thread: the host solver's input checks, as (index, value) pairs in checks[0..6): the first non-finite
    /// weight of w [count], the first non-finite entry of gram [k, k], the first negative diagonal entry (index −1: none).</summary>
    public static void CalibrationChecks(Index1D i, ArrayView<float> w, int count, ArrayView<float> gram, int k, ArrayView<double> checks)
    {
        for (int s = 0; s < 6; s += 2) { checks[s] = -1; checks[s + 1] = 0; }
        for (int j = 0; j < count; j++)
            if (NonFinite(w[j])) { checks[0] = j; checks[1] = w[j]; break; }
        for (int j = 0; j < k * k; j++)
            if (NonFinite(gram[j])) { checks[2] = j; checks[3] = gram[j]; break; }
        for (int j = 0; j < k; j++)
            if (gram[j * k + j] < 0) { checks[4] = j; checks[5] = gram[j * k + j]; break; }
    }

    /// <summary>Row r of AWQ's closed-form score ‖X(w − t·q)‖² = wᵀGw − 2t·a + t²·b, with q_c = codes[r, c]/s_c: stats[3r..3r+3)
    /// = (wᵀGw, qᵀGw, qᵀGq) in double over the Gram matrix gram [k, k].</summary>
    public static void AwqRowStats(Index1D r, ArrayView<float> w, ArrayView<float> gram, ArrayView<sbyte> codes, ArrayView<float> inputScales,
        ArrayView<double> stats, int k)
    {
        int o = r * k;
        double wgw = 0, a = 0, b = 0;
        for (int c = 0; c < k; c++)
        {
            double gw = 0;
            for (int j = 0; j < k; j++) gw += (double)gram[c * k + j] * w[o + j];
            wgw += w[o + c] * gw;
            int code = codes[o + c];
            if (code == 0) continue;
            double gq = 0;
            for (int j = 0; j < k; j++)
            {
                int cj = codes[o + j];
                if (cj != 0) gq += (double)gram[c * k + j] * (cj / (double)inputScales[j]);
            }
            double qc = code / (double)inputScales[c];
            a += qc * gw; b += qc * gq;
        }
        stats[3 * r] = wgw; stats[3 * r + 1] = a; stats[3 * r + 2] = b;
    }

    /// <summary>One thread: α's score Σ_r wᵀGw − 2t·a + t²·b (clamped at 0) into errors[slot], t the absmean scale of the
    /// row (perRow) or tensor, or with refit its least-squares replacement a/b (Σa/Σb per tensor; kept where not positive).</summary>
    public static void AwqGridError(Index1D i, ArrayView<double> stats, ArrayView<float> scales, int n, int perRow, int refit, float minScale,
        ArrayView<double> errors, int slot)
    {
        float tensorScale = scales[0];
        if (refit != 0 && perRow == 0)
        {
            double sa = 0, sb = 0;
            for (int r = 0; r < n; r++) { sa += stats[3 * r + 1]; sb += stats[3 * r + 2]; }
            if (sa > 0 && sb > 0) tensorScale = (float)XMath.Max(sa / sb, minScale);
        }
        double err = 0;
        for (int r = 0; r < n; r++)
        {
            double a = stats[3 * r + 1], b = stats[3 * r + 2];
            float ts = perRow != 0 ? scales[r] : tensorScale;
            if (refit != 0 && perRow != 0 && a > 0 && b > 0) ts = (float)XMath.Max(a / b, minScale);
            double t = ts;
            err += stats[3 * r] - 2 * t * a + t * t * b;
        }
        errors[slot] = err < 0 ? 0 : err;
    }
}
