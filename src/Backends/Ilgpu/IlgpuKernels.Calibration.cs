using ILGPU;
using ILGPU.Algorithms;

namespace BitDistill.Backends.Ilgpu;

// The training solves on the device. AWQ's grid search (TernaryCalibration.AwqFromStatistics): the input scales of each α
// come from the host (bit for bit the host solver's), the codes from the absmean kernels, and each row's closed-form score
// terms from one thread per row over the Gram matrix, so only the grid's errors are read back. GPTQ
// (TernaryCalibration.GptqFromGram): the host factors H⁻¹ (TernaryCalibration.GptqFactor), and one thread per row (on GPUs a
// group per row, IlgpuKernels.RowGroups) runs the column-by-column error feedback on it; the refit reuses AWQ's row terms
// with unit input scales.
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

    /// <summary>Row r of GPTQ's error feedback, unblocked (the same sums, column by column, as the host's lazy blocks): the
    /// row in double with columns in the plan's order perm and dead columns zeroed (work [n, k] scratch); for each column i,
    /// q = ternarise(w_i) with the row's absmean scale, e = (w_i − q·s)/U_ii, w_{i+1:} −= e·U[i, i+1:]. Writes the codes and
    /// the feedback (the value each code was rounded from − the original weight) at the original columns.</summary>
    public static void GptqRows(Index1D r, ArrayView<float> w, ArrayView<int> perm, ArrayView<int> dead, ArrayView<double> u, ArrayView<float> scales,
        ArrayView<double> work, ArrayView<sbyte> codes, ArrayView<float> feedback, int k, int perRow)
    {
        int o = r * k;
        for (int j = 0; j < k; j++)
        {
            int c = perm[j];
            work[o + j] = dead[c] != 0 ? 0 : w[o + c];
        }
        double s = perRow != 0 ? scales[r] : scales[0];
        float inv = 1f / (float)s;
        for (int i = 0; i < k; i++)
        {
            double e = GptqRoundColumn(w, perm, u, work, codes, feedback, o, i, k, s, inv);
            for (int j = i + 1; j < k; j++) work[o + j] += -e * u[i * k + j];
        }
    }

    // GPTQ's step for column i of row o / k (in the solve's permuted order): round it to a ternary code with the row's scale,
    // record the code and the feedback at its original column, and return the error to spread over the later columns.
    // Shared by GptqRows and GptqRowsGrouped, so both make the same double operations per element.
    private static double GptqRoundColumn(ArrayView<float> w, ArrayView<int> perm, ArrayView<double> u, ArrayView<double> work,
        ArrayView<sbyte> codes, ArrayView<float> feedback, int o, int i, int k, double s, float inv)
    {
        float from = (float)work[o + i];
        float v = XMath.RoundToEven(from * inv);
        int q = v >= 1f ? 1 : v <= -1f ? -1 : 0;
        int c = perm[i];
        codes[o + c] = (sbyte)q;
        feedback[o + c] = from - w[o + c];
        return (work[o + i] - q * s) / u[i * k + i];
    }

    /// <summary>One thread: GPTQ's scales as rows [n]: rounding[r] the absmean scale the codes were rounded with, outScales[r]
    /// that scale or, with refit, the least-squares one a/b from <see cref="AwqRowStats"/>' terms (Σa/Σb per tensor; kept
    /// where not positive), at least minScale.</summary>
    public static void GptqScales(Index1D i, ArrayView<double> stats, ArrayView<float> scales, ArrayView<float> outScales, ArrayView<float> rounding,
        int n, int perRow, int refit, float minScale)
    {
        float tensorScale = scales[0];
        if (refit != 0 && perRow == 0)
        {
            double sa = 0, sb = 0;
            for (int r = 0; r < n; r++) { sa += stats[3 * r + 1]; sb += stats[3 * r + 2]; }
            if (sa > 0 && sb > 0) tensorScale = (float)XMath.Max(sa / sb, minScale);
        }
        for (int r = 0; r < n; r++)
        {
            float rs = perRow != 0 ? scales[r] : scales[0];
            rounding[r] = rs;
            float t = perRow != 0 ? rs : tensorScale;
            if (refit != 0 && perRow != 0 && stats[3 * r + 1] > 0 && stats[3 * r + 2] > 0) t = (float)XMath.Max(stats[3 * r + 1] / stats[3 * r + 2], minScale);
            outScales[r] = t;
        }
    }
}
