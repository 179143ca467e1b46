using System.CommandLine;
using System.Globalization;
using BitDistill.Bench;
using BitDistill.Kernels;

// The bench verbs, each a System.CommandLine command with described options; anything starting with "-" that is not help
// goes to BenchmarkDotNet (e.g. `-- --filter '*TrainingStepBench*'`).
if (args.Length > 0 && args[0].StartsWith('-') && args[0] is not ("-h" or "--help" or "-?"))
{
    BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    return 0;
}

var root = new RootCommand("BitDistill.NET benchmarks: each compares against a peer measured in the same run and prints the load average; "
    + "options that start with '-' (e.g. --filter '*TrainingStepBench*') run the BenchmarkDotNet classes instead.");

static Option<string> ThreadList(string dflt) => new("--threads")
{
    Description = $"comma-separated thread counts (default {dflt})",
    DefaultValueFactory = _ => dflt,
    Validators = { r => { if (!TryThreads(r.GetValueOrDefault<string>(), out _)) r.AddError($"--threads expects positive integers separated by commas, got '{r.GetValueOrDefault<string>()}'"); } },
};
static bool TryThreads(string? s, out int[] threads)
{
    threads = [];
    var parts = (s ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    var list = new List<int>();
    foreach (var p in parts)
    {
        if (!int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out int t) || t < 1) return false;
        list.Add(t);
    }
    threads = [.. list];
    return threads.Length > 0;
}
static Option<int> Positive(string name, string description, int dflt) => new(name)
{
    Description = description,
    DefaultValueFactory = _ => dflt,
    Validators = { r => { if (r.GetValueOrDefault<int>() < 1) r.AddError($"{name} must be at least 1, got {r.GetValueOrDefault<int>()}"); } },
};
static int[] Threads(ParseResult p, Option<string> o) { TryThreads(p.GetValue(o), out var t); return t; }
static string Join(int[] t) => string.Join(',', t);

var gemmThreads = ThreadList("1,2");
var gemmPeer = new Command("gemm-peer", "SGEMM GFLOP/s on square and model shapes against PyTorch + OpenBLAS, same threads") { gemmThreads };
gemmPeer.SetAction(p => GemmPeer.Run(Threads(p, gemmThreads)));
root.Subcommands.Add(gemmPeer);

var fmaPeak = new Command("fma-peak", "the FP32 FMA peak of this machine at every SIMD level, 1 and 2 threads");
fmaPeak.SetAction(_ =>
{
    foreach (var level in Enum.GetValues<SimdLevel>().Where(l => l <= KernelContext.HardwareSimd))
        using (KernelContext.Override(simd: level))
            Console.WriteLine($"{level}: 1 thread {FmaPeak.Measure(1):F1}  2 threads {FmaPeak.Measure(2):F1} GFLOP/s");
    return 0;
});
root.Subcommands.Add(fmaPeak);

var candidates = new Argument<string[]>("candidates") { Description = "SGEMM blockings KC,MC,NC to time (default: the current one), or `kernel` followed by micro-kernel names", Arity = ArgumentArity.ZeroOrMore };
var gemmTune = new Command("gemm-tune", "time SGEMM cache blockings (or micro-kernels) on this machine") { candidates };
gemmTune.SetAction(p => GemmTune.Run(p.GetValue(candidates) ?? []));
root.Subcommands.Add(gemmTune);

var qtThreads = ThreadList("1,2");
var qtSteps = Positive("--steps", "timed training steps per measurement", 9);
var qtProfile = new Option<bool>("--profile") { Description = "print per-op forward/backward times instead of the comparison" };
var qtNoPeer = new Option<bool>("--no-peer") { Description = "skip the PyTorch peer" };
var qwenTrain = new Command("qwen-train", "one training step of a small Qwen3 (forward, causal-LM loss, backward, AdamW) against PyTorch") { qtThreads, qtSteps, qtProfile, qtNoPeer };
qwenTrain.SetAction(p => QwenTrainBench.Run([.. new[] { "--threads", Join(Threads(p, qtThreads)), "--steps", p.GetValue(qtSteps).ToString(CultureInfo.InvariantCulture) },
    .. p.GetValue(qtProfile) ? new[] { "--profile" } : [], .. p.GetValue(qtNoPeer) ? new[] { "--no-peer" } : []]));
root.Subcommands.Add(qwenTrain);

var attn = new Command("attn", "fused attention forward/backward against the composite reference and PyTorch's SDPA");
attn.SetAction(_ => AttnBench.Run([]));
root.Subcommands.Add(attn);

var modelGemm = new Command("model-gemm", "SGEMM on the matrix shapes of the Qwen3-0.6B training step");
modelGemm.SetAction(_ => ModelGemmBench.Run([]));
root.Subcommands.Add(modelGemm);

var lceThreads = Positive("--threads", "threads", 1);
var lce = new Command("lce", "fused linear + cross-entropy against the materialised logits") { lceThreads };
lce.SetAction(p => LceBench.Run([p.GetValue(lceThreads).ToString(CultureInfo.InvariantCulture)]));
root.Subcommands.Add(lce);

var dsThreads = Positive("--threads", "threads (default: all cores)", Environment.ProcessorCount);
var dsSteps = Positive("--steps", "timed steps per objective (median reported)", 11);
var dsProfile = new Option<bool>("--profile") { Description = "print per-op times of a fine-tuning and a distillation step instead" };
var distillStep = new Command("distill-step", "a stage-3 distillation step (teacher forward + CE + λ·LD + γ·AD) against a plain fine-tuning step of the same ternary student") { dsThreads, dsSteps, dsProfile };
distillStep.SetAction(p => DistillStepBench.Run([.. new[] { "--threads", p.GetValue(dsThreads).ToString(CultureInfo.InvariantCulture), "--steps", p.GetValue(dsSteps).ToString(CultureInfo.InvariantCulture) },
    .. p.GetValue(dsProfile) ? new[] { "--profile" } : []]));
root.Subcommands.Add(distillStep);

var tQuick = new Option<bool>("--quick") { Description = "one shape and one run" };
var tRepeat = Positive("--repeat", "runs per case; the quietest median is reported (default 3, 1 with --quick)", 3);
var tCpu = new Option<bool>("--cputime") { Description = "CPU time per call on one thread instead of the wall-clock tables" };
var ternary = new Command("ternary", "ternary×INT8 GEMV against float32 and FP16-weight GEMV, weights streamed from memory, against the measured read bandwidth") { tQuick, tRepeat, tCpu };
ternary.SetAction(p =>
{
    int repeat = p.GetResult(tRepeat) is { Implicit: false } ? p.GetValue(tRepeat) : p.GetValue(tQuick) ? 1 : 3;
    TernaryBench.Run([.. p.GetValue(tQuick) ? new[] { "--quick" } : [], "--repeat", repeat.ToString(CultureInfo.InvariantCulture), .. p.GetValue(tCpu) ? new[] { "--cputime" } : []]);
    return 0;
});
root.Subcommands.Add(ternary);

var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    Console.Error.WriteLine($"bench: {string.Join("; ", parse.Errors.Select(e => e.Message))} (see --help)");
    return 2;
}
return parse.Invoke();
