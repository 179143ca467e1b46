using System.Globalization;
using System.Text.Json;
using BitDistill.Distill.Data;
using BitDistill.Distill.Evaluation;
using BitDistill.Distill.Recipes;
using BitDistill.Distill.Reports;
using BitDistill.Distill.Stages;
using BitDistill.Distill.Training;
using BitDistill.Models;
using BitDistill.Models.BitNet;
using BitDistill.Models.Qwen;
using BitDistill.Models.Tokenization;
using BitDistill.Tensors;

namespace BitDistill.Distill.Demo;

/// <summary>What exists of the recipe today, end to end on the embedded data: pretrain a small full-precision Qwen3 teacher on
/// Jane Austen, refine copies of it into 1.58-bit models (stage 1, with and without SubLN), continue training them (stage 2),
/// and compare held-out perplexities against the unigram baseline. Distillation (stage 3) comes with the pipeline issue.</summary>
public static class EmbeddedDemo
{
    private static string RunDir(string tag, DemoOptions o) => $"{tag}-run{(o.Quick ? "-quick" : "")}-seed{o.Seed}";

    /// <summary>Runs the demo and returns the table rows.</summary>
    public static IReadOnlyList<DemoRow> Run(DemoOptions o)
    {
        Directory.CreateDirectory(o.OutputDir);
        var tok = TextTokenizer.Load(Path.Combine(o.DataDir, "tokenizer"));
        int eos = tok.TokenToId("<|endoftext|>") ?? throw new InvalidDataException($"{Path.Combine(o.DataDir, "tokenizer")}: no <|endoftext|> token");
        var train = TokenDataset.FromFiles([Path.Combine(o.DataDir, "corpus", "austen.train.txt.gz")], tok, eos);
        var valid = TokenDataset.FromFiles([Path.Combine(o.DataDir, "corpus", "austen.valid.txt.gz")], tok, eos);
        int seq = 64, evalWindows = o.Quick ? 48 : 256;
        double unigram = UnigramBaseline.Perplexity(train.Tokens, valid.Tokens[..Math.Min(valid.Count, seq * evalWindows + 1)], tok.VocabSize);
        o.Log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"corpus: {train.Count:N0} training tokens, {valid.Count:N0} held-out tokens (Jane Austen); vocabulary {tok.VocabSize}; unigram perplexity {unigram:F1}"));

        var config = QwenConfig.Parse($$"""
            {"model_type": "qwen3", "architectures": ["Qwen3ForCausalLM"], "vocab_size": {{tok.VocabSize}}, "hidden_size": 128, "intermediate_size": 384,
             "num_hidden_layers": {{(o.Quick ? 2 : 4)}}, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32, "rms_norm_eps": 1e-6,
             "rope_theta": 10000, "tie_word_embeddings": true, "max_position_embeddings": 512, "hidden_act": "silu", "initializer_range": 0.02,
             "bos_token_id": null, "eos_token_id": {{eos}}, "torch_dtype": "float32"}
            """, "demo config");
        int teacherSteps = o.Quick ? 300 : 1500, studentSteps = o.Quick ? 200 : 1000;
        var baseOpts = new TrainingOptions { BatchSize = 8, SeqLen = seq, EvalWindows = evalWindows, EvalEvery = o.Quick ? 0 : 250, LogEvery = o.Quick ? 100 : 100, Log = o.Log, Seed = o.Seed };

        var rows = new List<DemoRow> { new("unigram baseline", tok.VocabSize, unigram, double.NaN, double.NaN) };
        var curves = new List<(string, IReadOnlyList<double>, IReadOnlyList<double>)>();

        o.Log.WriteLine($"== full-precision teacher: {config.NumHiddenLayers} layers, hidden {config.HiddenSize}, {teacherSteps} steps");
        var teacher = ModelRegistry.Create(config, new Generator(o.Seed));
        var th = CausalLmTrainer.Train(teacher, train, valid, baseOpts with { Steps = teacherSteps, LearningRate = 3e-3f, WarmupSteps = teacherSteps / 10, Name = "teacher", CheckpointDir = Path.Combine(o.OutputDir, RunDir("teacher", o)) });
        teacher.SavePretrained(Path.Combine(o.OutputDir, "teacher"));
        ModelFolders.CopyTokenizer(Path.Combine(o.DataDir, "tokenizer"), Path.Combine(o.OutputDir, "teacher"));
        rows.Add(new("Qwen3 FP32 teacher", teacher.ParameterCount(), th.Validation[^1].Perplexity, th.TokensPerSecond, teacher.ParameterCount() * 4 / 1e6));
        curves.Add(("FP teacher", th.Loss.Select(l => (double)l.Step).ToArray(), th.Loss.Select(l => l.Loss).ToArray()));

        // the fair full-precision comparison: the teacher trained for the same extra steps as the students
        {
            o.Log.WriteLine($"== FP teacher, continued for {studentSteps} more steps (same schedule as the students)");
            var fp = ModelRegistry.FromPretrained(Path.Combine(o.OutputDir, "teacher"));
            var fh = CausalLmTrainer.Train(fp, train, valid, baseOpts with { Steps = studentSteps, LearningRate = 2e-3f, WarmupSteps = studentSteps / 10, Name = "fp-continued", Seed = o.Seed + 1, CheckpointDir = Path.Combine(o.OutputDir, RunDir("fp-continued", o)) });
            rows.Add(new("Qwen3 FP32, continued", fp.ParameterCount(), fh.Validation[^1].Perplexity, fh.TokensPerSecond, fp.ParameterCount() * 4 / 1e6));
            curves.Add(("FP continued", fh.Loss.Select(l => (double)(l.Step + teacherSteps)).ToArray(), fh.Loss.Select(l => l.Loss).ToArray()));
        }

        // stages 1-2 of two recipes (stage 3, distillation on a task, joins with the task pipeline)
        foreach (var (name, recipe) in new[] { ("ternary, no SubLN", KnownRecipes.NoSubLn), ("ternary + SubLN (stages 1-2)", KnownRecipes.BitDistill) })
        {
            o.Log.WriteLine($"== {name}: refine the teacher, then {studentSteps} steps of continued training");
            var student = new RefineStage(recipe.BitNet!).Run(teacher).Model;
            double atRefine = Perplexity.Compute(student, valid, seq, evalWindows);
            o.Log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"   perplexity right after refine (no training): {atRefine:F1}"));
            var tag = recipe.BitNet!.SubLn == SubLnPlacement.None ? "ternary-nosubln" : "ternary-subln";
            var sh = new ContinuedPretrainingStage(train, valid, baseOpts with { Steps = studentSteps, LearningRate = 2e-3f, WarmupSteps = studentSteps / 10, Name = tag, Seed = o.Seed + 1, CheckpointDir = Path.Combine(o.OutputDir, RunDir(tag, o)) })
                .Run(student).History!;
            student.SavePretrained(Path.Combine(o.OutputDir, tag));
            ModelFolders.CopyTokenizer(Path.Combine(o.DataDir, "tokenizer"), Path.Combine(o.OutputDir, tag));
            long ternaryWeights = Refiner.BitLinears(student).Sum(b => (long)b.Layer.InFeatures * b.Layer.OutFeatures);
            double mb = (ternaryWeights * 2 / 8.0 + (student.ParameterCount() - ternaryWeights) * 4) / 1e6;
            rows.Add(new(name, student.ParameterCount(), sh.Validation[^1].Perplexity, sh.TokensPerSecond, mb));
            curves.Add((name, sh.Loss.Select(l => (double)(l.Step + teacherSteps)).ToArray(), sh.Loss.Select(l => l.Loss).ToArray()));
        }

        o.Log.WriteLine();
        o.Log.WriteLine("| model | parameters | held-out perplexity | train tok/s | weights (MB, 2-bit ternary) |");
        o.Log.WriteLine("|---|---:|---:|---:|---:|");
        foreach (var r in rows)
            o.Log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Model} | {r.Parameters:N0} | {r.Perplexity:F1} | {(double.IsNaN(r.TokensPerSecond) ? "" : r.TokensPerSecond.ToString("F0", CultureInfo.InvariantCulture))} | {(double.IsNaN(r.WeightMegabytes) ? "" : r.WeightMegabytes.ToString("F2", CultureInfo.InvariantCulture))} |"));
        Plots.Lines(Path.Combine(o.OutputDir, "loss.png"), "Training loss (teacher, then ternary students)", "step", "cross-entropy", curves);
        Plots.Bars(Path.Combine(o.OutputDir, "perplexity.png"), "Held-out perplexity (Northanger Abbey)", "perplexity", rows.Select(r => (r.Model, r.Perplexity)).ToArray());
        var tmp = Path.Combine(o.OutputDir, "results.json.tmp");
        File.WriteAllText(tmp, JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
        File.Move(tmp, Path.Combine(o.OutputDir, "results.json"), overwrite: true);
        o.Log.WriteLine($"wrote {Path.Combine(o.OutputDir, "loss.png")}, perplexity.png, results.json and the models (Hugging Face layout) to {o.OutputDir}");
        return rows;
    }
}
