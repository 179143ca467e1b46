using System.CommandLine;
using System.Globalization;
using BitDistill.Distill.Data;
using BitDistill.Distill.Evaluation;
using BitDistill.Distill.Quantization;
using BitDistill.Models;
using BitDistill.Models.BitNet;
using BitDistill.Models.Tokenization;

namespace BitDistill.Cli;

/// <summary>The `quantize` verb: post-training GPTQ/AWQ calibration of a finished ternary model.</summary>
public static class QuantizeCommand
{
    /// <summary>`bitdistill quantize --model DIR --method gptq|awq --calibration FILE [--eval FILE] [--output DIR]`.</summary>
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "a ternary model folder (Hugging Face layout with a 'bitnet' config field)", Required = true };
        var method = new Option<string>("--method") { Description = "gptq or awq", Required = true };
        var calib = new Option<string>("--calibration") { Description = "calibration text (.txt/.jsonl, optionally .gz)", Required = true };
        var eval = new Option<string?>("--eval") { Description = "held-out text for the output error and perplexity (default: the calibration file)" };
        var output = new Option<string?>("--output") { Description = "where to write the calibrated model (default: MODEL-METHOD)" };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "tokenizer.json or folder (default: the model folder, else the embedded one)" };
        var overwrite = new Option<bool>("--overwrite") { Description = "write into a non-empty --output folder that another verb wrote" };
        var rows = new Option<int>("--calibration-tokens") { Description = "activation rows collected per layer", DefaultValueFactory = _ => 2048 };
        var seqLen = new Option<int>("--seq-len") { Description = "tokens per perplexity window (as pretrain's --seq-len, so the numbers agree)", DefaultValueFactory = _ => PerplexityProtocol.Default.SeqLen };
        var windows = new Option<int>("--eval-windows") { Description = "most perplexity windows scored on the held-out text", DefaultValueFactory = _ => PerplexityProtocol.Default.MaxWindows };
        var cmd = new Command("quantize", "Re-ternarise a trained ternary model with GPTQ- or AWQ-style calibration; reports per-layer output error and perplexity before/after.");
        var parseSpecial = new Option<bool>("--parse-special") { Description = TaskArguments.ParseSpecialHelp };
        foreach (var o in new Option[] { model, method, calib, eval, output, tokenizer, rows, seqLen, windows, overwrite, parseSpecial }) cmd.Options.Add(o);
        cmd.SetAction(p => ErrorPolicy.Run("quantize", p, () =>
        {
            string dir = p.GetValue(model)!, m = p.GetValue(method)!.ToLowerInvariant();
            var kind = m switch { "gptq" => CalibrationKind.Gptq, "awq" => CalibrationKind.Awq, _ => throw new UsageException($"--method must be gptq or awq, got '{m}'") };
            if (p.GetValue(seqLen) < 2) throw new UsageException($"--seq-len must be at least 2, got {p.GetValue(seqLen)}");
            if (p.GetValue(windows) <= 0) throw new UsageException($"--eval-windows must be positive, got {p.GetValue(windows)}");
            if (p.GetValue(rows) <= 0) throw new UsageException($"--calibration-tokens must be positive, got {p.GetValue(rows)}");
            var configPath = Path.Combine(dir, "config.json");
            if (File.Exists(configPath) && ModelRegistry.IsSequenceClassifier(ModelRegistry.LoadConfig(configPath)))
                throw new UsageException($"{dir} is a sequence classifier (a score head): quantize measures perplexity, which needs an LM head");
            using var claimed = OutputFolder.Claim("quantize", p.GetValue(output) ?? dir.TrimEnd('/') + "-" + m, p.GetValue(overwrite), dir, p.GetValue(calib), p.GetValue(eval));
            var student = ModelRegistry.FromPretrained(dir);
            var tokPath = p.GetValue(tokenizer) ?? (File.Exists(Path.Combine(dir, "tokenizer.json")) ? dir : Path.Combine(DemoCommand.EmbeddedDataDir, "tokenizer"));
            var tok = TextTokenizer.Load(tokPath);
            TokenizerPairing.Check(tok, student.Config);
            int eos = tok.EosId ?? tok.TokenToId("<|endoftext|>") ?? throw new InvalidDataException($"{tokPath}: no end-of-text token");
            var cal = TokenDataset.FromFiles([p.GetValue(calib)!], tok, eos, p.GetValue(parseSpecial));
            var held = p.GetValue(eval) is { } e ? TokenDataset.FromFiles([e], tok, eos, p.GetValue(parseSpecial)) : cal;
            if (p.GetValue(eval) is null) Console.WriteLine("note: no --eval file: output error and perplexity are measured on the calibration text itself");
            var protocol = new PerplexityProtocol(p.GetValue(seqLen), p.GetValue(windows));
            if (p.GetValue(seqLen) > student.Config.MaxPositionEmbeddings)
                throw new UsageException($"--seq-len {p.GetValue(seqLen)} is longer than the model's max_position_embeddings ({student.Config.MaxPositionEmbeddings})");
            Console.WriteLine($"calibrating {dir} with {m} on {cal.Count:N0} tokens; perplexity on {protocol.Describe(held)}");
            var report = PostTrainingQuantizer.Run(student, kind, cal, held, maxRows: p.GetValue(rows), perplexity: protocol, log: Console.Out);
            var outDir = claimed.Path;
            report.Model.SavePretrained(outDir);
            ModelFolders.CopyTokenizer(tokPath, outDir);
            double e0 = report.Layers.Average(l => l.AbsmeanError), e1 = report.Layers.Average(l => l.CalibratedError);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{(report.PerplexityAfter > report.PerplexityBefore ? "warning: calibration raised the held-out perplexity; keep the input model unless output error is what you need. " : "")}mean relative output error (held-out activations): absmean {e0:F4} → {m} {e1:F4}; perplexity {report.PerplexityBefore:F2} → {report.PerplexityAfter:F2}; wrote {outDir}"));
            return 0;
        }));
        return cmd;
    }
}
