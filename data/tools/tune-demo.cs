#:project ../../src/Distill/BitDistill.Distill.csproj
// Tunes the demo's recipe on the shipped tasks' VALIDATION splits only (data/models/README.md, "The demo's recipe settings"):
// the demo's data, encoder and comparison with the budget and recipe settings given here; the test rows are never evaluated
// (one validation row stands in for the comparison's test set). Prints each run's validation metric and the mean per method.
//   dotnet run -c Release data/tools/tune-demo.cs -- steps=40 batch=16 lr=1e-3 s2=40 seeds=3 tasks=sentiment methods=fp-sft,bitnet-sft,bitdistill,bitdistill:g=100
// Keys: steps, batch, lr (several, comma-separated: each method keeps its best), s2 (stage-2 steps), s2lr, seeds, tasks,
// methods (a method may carry γ/λ/τ/layer overrides: bitdistill:g=10:l=1:t=2:layer=3), gamma, gammasum, lambda, tau, layer,
// threads (default 1), valrows, evalevery, verbose. Several runs at once can exhaust memory: DOTNET_GCHeapHardLimit=0x100000000
// kept one near 4 GB resident.
using System.Globalization;
using BitDistill.Distill.Comparison;
using BitDistill.Distill.Data;
using BitDistill.Distill.Demo;
using BitDistill.Distill.Recipes;
using BitDistill.Distill.Training;
using BitDistill.Kernels;
using BitDistill.Models;
using BitDistill.Models.Tokenization;

var inv = CultureInfo.InvariantCulture;
var a = args.Select(x => x.Split('=', 2)).ToDictionary(x => x[0], x => x.Length > 1 ? x[1] : "");
string Get(string k, string d) => a.TryGetValue(k, out var v) ? v : d;
double? Opt(string k) => a.TryGetValue(k, out var v) ? double.Parse(v, inv) : null;
int steps = int.Parse(Get("steps", "40")), batch = int.Parse(Get("batch", "16")), s2 = int.Parse(Get("s2", "40")), seeds = int.Parse(Get("seeds", "1"));
int threads = int.Parse(Get("threads", "1")), valRows = int.Parse(Get("valrows", "1000"));
float[] lrs = Get("lr", "1e-3").Split(',').Select(x => float.Parse(x, inv)).ToArray();
float s2lr = float.Parse(Get("s2lr", "1e-3"), inv);
double? gammaCls = Opt("gamma"), gammaSum = Opt("gammasum"), lambda = Opt("lambda"), tau = Opt("tau");
int? layer = a.TryGetValue("layer", out var lv) ? int.Parse(lv, inv) : null;
var tasks = Get("tasks", string.Join(",", ShippedTasks.Names)).Split(',');
var names = Get("methods", "fp-sft,bitnet-sft,bitdistill").Split(',');
// a method may carry overrides: bitdistill:g=10:l=1:t=2:layer=3 (γ, λ, τ, distilled layer), named by the whole spec
Recipe Method(string spec, TaskKind kind)
{
    var parts = spec.Split(':');
    var r = KnownRecipes.ByName(parts[0]);
    if (kind == TaskKind.Summarization) r = KnownRecipes.ForSummarization(r);
    if (r.UsesTeacher)
    {
        if (tau is { } t0) r = r with { Temperature = t0 };
        if (layer is { } l0) r = r with { AttentionLayer = l0 };
        if (lambda is { } lam && r.LogitsDistillationWeight > 0) r = r with { LogitsDistillationWeight = lam };
        var g0 = kind == TaskKind.Classification ? gammaCls ?? EmbeddedDemo.ClassificationGamma : gammaSum ?? EmbeddedDemo.SummarizationGamma;
        if (g0 is { } g && r.AttentionDistillationWeight > 0) r = r with { AttentionDistillationWeight = g };
    }
    foreach (var kv in parts.Skip(1).Select(x => x.Split('=')))
    {
        double v = double.Parse(kv[1], inv);
        r = kv[0] switch
        {
            "g" => r with { AttentionDistillationWeight = v }, "l" => r with { LogitsDistillationWeight = v },
            "t" => r with { Temperature = v }, "layer" => r with { AttentionLayer = (int)v }, _ => throw new ArgumentException(spec),
        };
    }
    return r with { Name = spec };
}
using var scope = KernelContext.Override(degreeOfParallelism: threads);
var dataDir = Get("data", "data");
var baseDir = EmbeddedDemo.BaseModelDir(dataDir);
var baseModel = ModelRegistry.FromPretrained(baseDir);
var tok = TextTokenizer.Load(baseDir);
int eos = tok.TokenToId("<|endoftext|>") ?? throw new InvalidDataException("no <|endoftext|>");
var corpus = TokenDataset.FromFiles([EmbeddedDemo.Stage2Corpus(dataDir)], tok, eos);
var cache = new Stage2Cache();
var log = a.ContainsKey("verbose") ? Console.Out : TextWriter.Null;
Console.WriteLine($"config: {string.Join(' ', args)}");
foreach (var name in tasks)
{
    var clock = System.Diagnostics.Stopwatch.StartNew();
    var data = TaskData.Load(ShippedTasks.Options(dataDir, name, 1));
    var encoder = TaskEncoder.For(data, tok, EmbeddedDemo.MaxLength);
    var train = encoder.EncodeAll(data.Train);
    var validation = encoder.EncodeAll(data.Validation).Rows.Take(valRows).ToArray();
    var stand = new EncodedTask(validation.Take(1).ToArray(), encoder.Kind, encoder.PadId);
    var task = new TrainingOptions { Steps = steps, BatchSize = batch, LearningRate = lrs[0], WarmupSteps = Math.Max(1, steps / 20), WeightDecay = 0.01f, EvalEvery = int.Parse(Get("evalevery", "0")), Seed = 1, LogEvery = Math.Max(1, steps / 6), Log = log };
    var result = MethodComparison.Run(baseModel, train, validation, stand, encoder, new ComparisonOptions
    {
        Methods = names.Select(n => Method(n, encoder.Kind)).ToArray(), Seeds = seeds, Task = task, Corpus = corpus, Stage2Cache = cache, DecodeTokens = 0, LearningRates = lrs.Length > 1 ? lrs : null,
        Stage2 = task with { Steps = s2, SeqLen = 128, LearningRate = s2lr, WarmupSteps = Math.Max(1, s2 / 20) },
        RelationHeads = 32, Log = log, FlipRateEvery = 1000,
    });
    foreach (var m in names)
    {
        var runs = result.Runs.Where(r => r.Method == m).ToArray();
        Console.WriteLine(string.Create(inv, $"{name} {m}: validation mean {runs.Average(r => r.Validation) * 100:F1} [{string.Join(", ", runs.Select(r => $"{r.Validation * 100:F1}@lr{r.LearningRate:G2}"))}] ({validation.Length} rows)"));
    }
    Console.WriteLine(string.Create(inv, $"{name}: {clock.Elapsed.TotalSeconds:F0} s"));
}
