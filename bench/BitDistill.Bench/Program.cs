if (args.Length > 0 && args[0] == "ternary") { BitDistill.Bench.TernaryBench.Run(args[1..]); return; }
BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
