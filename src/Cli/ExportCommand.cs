using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using BitDistill.Distill.Tasks;
using BitDistill.Models;
using BitDistill.Models.BitNet;
using BitDistill.Models.Tokenization;
using BitDistill.Runtime;

namespace BitDistill.Cli;

/// <summary>The `export` verb: packs a trained ternary (quantisation-aware) model for the inference runtime — ternary projections
/// at 2 bits (i2) or 1.6 bits (t1.6) with their scales, norms and SubLN in F32, embeddings and lm_head in FP16 or INT8 — into one
/// safetensors container with config.json and the tokenizer files.</summary>
public static class ExportCommand
{
    /// <summary>The parsed command line of `export`.</summary>
    public sealed record Args
    {
        /// <summary>The ternary model folder.</summary>
        public required string Model { get; init; }
        /// <summary>"i2" or "t1.6".</summary>
        public required string Format { get; init; }
        /// <summary>"fp16", "int8" or "fp32".</summary>
        public string LmHead { get; init; } = "fp16";
        /// <summary>"fp16", "int8" or "fp32".</summary>
        public string Embeddings { get; init; } = "fp16";
        /// <summary>The folder to write.</summary>
        public required string Output { get; init; }
        /// <summary>Write into a non-empty folder another verb wrote.</summary>
        public bool Overwrite { get; init; }
        /// <summary>Print the stack trace of an error.</summary>
        public bool Verbose { get; init; }
    }

    // files beside the weights that a runtime user needs (tokenizer, generation defaults, the fine-tuned task), copied when present
    private static readonly string[] SideFiles =
        ["tokenizer.json", "tokenizer.json.gz", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt", "generation_config.json", "task.json"];

    /// <summary>`bitdistill export --model DIR --format i2|t1.6 [--lm-head fp16|int8] [--embeddings fp16|int8] --output DIR [--overwrite]`.</summary>
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "a trained ternary model folder (Hugging Face layout with a 'bitnet' config field)", Required = true };
        var format = new Option<string>("--format") { Description = "ternary packing: i2 (2-bit codes, the kernels' layout) or t1.6 (5 trits per byte)", Required = true };
        var lmHead = new Option<string>("--lm-head") { Description = "storage of lm_head: fp16, int8 (per-row scales) or fp32", DefaultValueFactory = _ => "fp16" };
        var embeddings = new Option<string>("--embeddings") { Description = "storage of the embedding table: fp16, int8 (per-row scales) or fp32", DefaultValueFactory = _ => "fp16" };
        var output = new Option<string>("--output", "--out") { Description = "the folder to write (not the input folder)", Required = true };
        var overwrite = new Option<bool>("--overwrite") { Description = "write into a non-empty --output folder that another verb wrote" };
        var cmd = new Command("export", "Pack a trained ternary model for the inference runtime (bitdistill generate / classify run the result): "
            + "one safetensors file with 2-bit or 1.6-bit ternary weights, config.json and the tokenizer.");
        foreach (var o in new Option[] { model, format, lmHead, embeddings, output, overwrite }) cmd.Options.Add(o);
        cmd.SetAction(p =>
        {
            using var threads = ErrorPolicy.ThreadScope(p);
            return Run(new Args
            {
                Model = p.GetValue(model)!, Format = p.GetValue(format)!, LmHead = p.GetValue(lmHead)!, Embeddings = p.GetValue(embeddings)!,
                Output = p.GetValue(output)!, Overwrite = p.GetValue(overwrite), Verbose = p.GetValue(ErrorPolicy.Verbose),
            }, Console.Out, Console.Error);
        });
        return cmd;
    }

    /// <summary>Runs the verb under <see cref="ErrorPolicy"/>; returns the exit code.</summary>
    public static int Run(Args a, TextWriter stdout, TextWriter stderr) =>
        ErrorPolicy.Run("export", () => Export(a, stdout), stdout, stderr, a.Verbose);

    static int Export(Args a, TextWriter stdout)
    {
        var packing = PackedExportInfo.ParsePacking(a.Format) ?? throw new UsageException($"--format must be i2 or t1.6, got '{a.Format}'");
        var head = PackedExportInfo.ParseStorage(a.LmHead) ?? throw new UsageException($"--lm-head must be fp16, int8 or fp32, got '{a.LmHead}'");
        var emb = PackedExportInfo.ParseStorage(a.Embeddings) ?? throw new UsageException($"--embeddings must be fp16, int8 or fp32, got '{a.Embeddings}'");
        if (!Directory.Exists(a.Model)) throw new UsageException($"model folder '{a.Model}' does not exist");
        string configPath = Path.Combine(a.Model, "config.json");
        var config = ModelRegistry.LoadConfig(configPath);
        if (config.Has(PackedExportInfo.Field)) throw new UsageException($"{a.Model} is already an exported model ({configPath} has '{PackedExportInfo.Field}')");
        var bitnet = BitNetConfig.From(config)
            ?? throw new UsageException($"{a.Model} is a full-precision model ({configPath} has no 'bitnet' object); export packs ternary models: refine and train it with `bitdistill distill` first");
        // What the packed format cannot hold faithfully is refused before anything is written. GPTQ (post-training calibration
        // or the training quantiser) is packable: its forward is ternary codes × per-row scales, exactly the kernels' layout.
        if (bitnet.Calibration == CalibrationKind.Awq || bitnet.WeightQuant == WeightQuantizer.Awq)
            throw new UsageException($"{configPath}: bitnet.{(bitnet.Calibration == CalibrationKind.Awq ? "calibration" : "weight_quant")} 'awq' cannot be exported: "
                + "its layers compute on x / s with per-input-channel AWQ scales, which the packed runtime does not apply; use absmean or gptq");
        if (bitnet.WeightScale == WeightScaleMode.PerGroup && bitnet.Calibration == CalibrationKind.None && bitnet.WeightQuant == WeightQuantizer.Absmean)
            throw new UsageException($"{configPath}: bitnet.weight_scale 'per_group' (group_size {bitnet.GroupSize}) cannot be exported: the packed kernels hold one scale per tensor or per row; train with per_tensor or per_channel");
        if (config.Get("architectures")?.ToJsonString().Contains("SequenceClassification", StringComparison.Ordinal) == true)
            throw new UsageException($"{configPath}: a score-head (sequence classification) model cannot be exported: the runtime runs causal LMs (label-word classifiers) only; train with --head label-words");
        // the side files are checked before they are shipped: a broken tokenizer or task.json would otherwise fail only at deployment
        if (File.Exists(Path.Combine(a.Model, "tokenizer.json")) || File.Exists(Path.Combine(a.Model, "tokenizer.json.gz"))) TokenizerPairing.Check(TextTokenizer.Load(a.Model), config);
        if (File.Exists(Path.Combine(a.Model, TaskSpec.FileName))) TaskSpec.Load(a.Model);
        using var claimed = OutputFolder.Claim("export", a.Output, a.Overwrite, a.Model);

        var model = ModelRegistry.FromPretrained(a.Model);
        if (model.LmHeadName is not (null or "lm_head")) throw new UsageException($"{a.Model}: the model's head is '{model.LmHeadName}'; the runtime runs causal LMs with lm_head only for now");
        var layers = Refiner.BitLinears(model).ToList();
        if (layers.Count == 0) throw new UsageException($"{a.Model}: the model has no ternary (BitLinear) layers");
        var info = new PackedExportInfo
        {
            Packing = packing, Embeddings = emb, LmHead = head,
            PerRowScales = layers[0].Layer.Packed.ScaleMode == Kernels.TernaryScaleMode.PerRow,
            SubLn = bitnet.SubLn.ToString().ToLowerInvariant(), SubLnEps = bitnet.SubLnEps,
        };
        // the final config first, checked by the runtime's own parser, so an unsupported architecture fails before any writing
        var json = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        json.Remove(BitNetConfig.Field);
        json.Remove(BitNetConfig.QuantizationField); // transformers' BitNet quantisation config describes the training checkpoint, not the packed file
        json[PackedExportInfo.Field] = info.ToJson();
        var runtimeConfig = RuntimeModelConfig.Parse(json.ToJsonString(), configPath + " (as exported)");

        var writer = new PackedModelWriter(info);
        var ternaryNames = new HashSet<string>(StringComparer.Ordinal);
        long fp16Bytes = 0;
        foreach (var (name, layer) in layers)
        {
            if (layer.QuantizationStrength != 1f) throw new UsageException($"{name}: quantisation strength {layer.QuantizationStrength} is not 1; export a fully quantised model");
            writer.AddTernary(name, layer.Packed);
            ternaryNames.Add(name + ".weight");
            fp16Bytes += 2L * layer.InFeatures * layer.OutFeatures;
        }
        float[]? embedding = null;
        foreach (var (name, p) in model.NamedParameters())
        {
            if (ternaryNames.Contains(name)) continue;
            var values = p.Value.ToFloatArray();
            if (name == "model.embed_tokens.weight")
            {
                embedding = values;
                writer.AddTable(name, values, p.Value.Size(0), p.Value.Size(1), emb);
            }
            else if (name == "lm_head.weight")
            {
                if (!runtimeConfig.TieWordEmbeddings) writer.AddTable(name, values, p.Value.Size(0), p.Value.Size(1), head);
            }
            else writer.AddFloat(name, values, p.Value.ShapeArray);
        }
        if (embedding is null) throw new UsageException($"{a.Model}: the model has no model.embed_tokens.weight");
        if (!info.SharesTable(runtimeConfig.TieWordEmbeddings) && runtimeConfig.TieWordEmbeddings)
            writer.AddTable("lm_head.weight", embedding, runtimeConfig.VocabSize, runtimeConfig.HiddenSize, head);

        writer.Write(claimed.Path, json);
        foreach (var f in SideFiles)
        {
            var src = Path.Combine(a.Model, f);
            if (!File.Exists(src)) continue;
            var tmp = Path.Combine(claimed.Path, "." + f + ".tmp");
            File.Copy(src, tmp, overwrite: true);
            File.Move(tmp, Path.Combine(claimed.Path, f), overwrite: true);
        }
        // the loader's checks, once, on what was written
        RuntimeModel.Load(claimed.Path);
        long size = new FileInfo(Path.Combine(claimed.Path, PackedExportInfo.FileName)).Length;
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"exported {a.Model} as {PackedExportInfo.Name(packing)} (embeddings {PackedExportInfo.Name(emb)}, lm_head {PackedExportInfo.Name(head)}): "
            + $"{PackedExportInfo.FileName} {size / 1048576.0:F2} MiB; {layers.Count} ternary projections {writer.TernaryBytes / 1048576.0:F2} MiB "
            + $"({(double)fp16Bytes / writer.TernaryBytes:F1}× smaller than FP16); wrote {claimed.Path}"));
        return 0;
    }
}
