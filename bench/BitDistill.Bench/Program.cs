using BitDistill.Bench;

if (args.Length > 0 && args[0] == "gemm-peer")
{
    var threads = args.Length > 1 ? args[1].Split(',').Select(int.Parse).ToArray() : [1, 2];
    return GemmPeer.Run(threads);
}
if (args.Length > 0 && args[0] == "fma-peak")
{
    foreach (var level in Enum.GetValues<BitDistill.Kernels.SimdLevel>().Where(l => l <= BitDistill.Kernels.KernelContext.HardwareSimd))
        using (BitDistill.Kernels.KernelContext.Override(simd: level))
            Console.WriteLine($"{level}: 1 thread {BitDistill.Kernels.FmaPeak.Measure(1):F1}  2 threads {BitDistill.Kernels.FmaPeak.Measure(2):F1} GFLOP/s");
    return 0;
}
if (args.Length > 0 && args[0] == "gemm-tune")
    return GemmTune.Run(args[1..]);
if (args.Length > 0 && args[0] == "qwen-train") return QwenTrainBench.Run(args[1..]);
if (args.Length > 0 && args[0] == "attn") return AttnBench.Run(args[1..]);
if (args.Length > 0 && args[0] == "model-gemm") return ModelGemmBench.Run(args[1..]);
if (args.Length > 0 && args[0] == "lce") return LceBench.Run(args[1..]);
if (args.Length > 0 && args[0] == "distill-step") return DistillStepBench.Run(args[1..]);
if (args.Length > 0 && args[0] == "ternary") { TernaryBench.Run(args[1..]); return 0; }
BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
