using BitDistill.Kernels;
using BitDistill.Tensors;

namespace BitDistill.Tests;

/// <summary>Helpers shared by the tests.</summary>
internal static class TestUtil
{
    public static Tensor Rand(int[] shape, ulong seed, float lo = -1, float hi = 1, Device? device = null) =>
        Tensor.Uniform(shape, new Generator(seed), lo, hi, device);

    public static Tensor RandN(int[] shape, ulong seed, Device? device = null) =>
        Tensor.Normal(shape, new Generator(seed), 0, 1, device);

    /// <summary>Whole-tensor relative error max|a−b| / max|b| (NaN in matching places is equal).</summary>
    public static double RelErr(float[] actual, float[] expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double num = 0, den = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            if (float.IsNaN(expected[i]) || float.IsNaN(actual[i]))
            {
                Assert.True(float.IsNaN(expected[i]) && float.IsNaN(actual[i]), $"NaN mismatch at {i}: {actual[i]} vs {expected[i]}");
                continue;
            }
            if (float.IsInfinity(expected[i]) || float.IsInfinity(actual[i]))
            {
                Assert.True(expected[i] == actual[i], $"inf mismatch at {i}: {actual[i]} vs {expected[i]}");
                continue;
            }
            num = Math.Max(num, Math.Abs((double)actual[i] - expected[i]));
            den = Math.Max(den, Math.Abs((double)expected[i]));
        }
        return den == 0 ? num : num / den;
    }

    public static void AssertClose(Tensor actual, Tensor expected, double tol = 1e-5, string what = "")
    {
        Assert.True(actual.Shape.SequenceEqual(expected.Shape), $"{what}: shape {Tensor.ShapeString(actual.Shape)} vs {Tensor.ShapeString(expected.Shape)}");
        double e = RelErr(actual.ToFloatArray(), expected.ToFloatArray());
        Assert.True(e <= tol, $"{what}: relative error {e:E3} > {tol:E1}");
    }

    /// <summary>SIMD levels this machine can run, widest first.</summary>
    public static IEnumerable<SimdLevel> SimdLevels() =>
        Enum.GetValues<SimdLevel>().Where(l => l <= KernelContext.HardwareSimd).OrderDescending();

    public static string FixturePath(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "Fixtures", .. parts]);

    /// <summary>A folder with a byte-level tokenizer.json that fits the 97-id fixture models: the printable ASCII bytes
    /// (ids 0–94) and &lt;|endoftext|&gt; (95).</summary>
    public static string TinyTokenizerFolder()
    {
        var dir = Path.Combine(Path.GetTempPath(), "bitdistill-tinytok-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var vocab = new System.Text.Json.Nodes.JsonObject();
        for (int b = 32; b < 127; b++) vocab[BitDistill.Models.Tokenization.ByteLevel.ByteToChar[b].ToString()] = b - 32;
        var json = new System.Text.Json.Nodes.JsonObject
        {
            ["model"] = new System.Text.Json.Nodes.JsonObject { ["type"] = "BPE", ["vocab"] = vocab, ["merges"] = new System.Text.Json.Nodes.JsonArray() },
            ["added_tokens"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject { ["id"] = 95, ["content"] = "<|endoftext|>", ["special"] = true }),
            ["pre_tokenizer"] = new System.Text.Json.Nodes.JsonObject { ["type"] = "ByteLevel" },
        };
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json.ToJsonString());
        return dir;
    }

    /// <summary>The fewest bytes this thread allocated over up to <paramref name="windows"/> runs of <paramref name="window"/>,
    /// stopping at the first clean one. An allocation per step shows in every window; a one-off event of the runtime on a loaded
    /// machine (a method tiering up, a shared pool refilled after a trim) only in one.</summary>
    public static long LeastThreadAllocation(int windows, Action window)
    {
        long least = long.MaxValue;
        for (int w = 0; w < windows && least > 0; w++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            window();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return least;
    }
}
