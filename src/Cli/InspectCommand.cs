using System.CommandLine;
using System.Globalization;
using BitDistill.Models;
using BitDistill.Models.Checkpoints;
using BitDistill.Models.Gemma3;
using BitDistill.Models.Qwen;
using BitDistill.Tensors.SafeTensors;

namespace BitDistill.Cli;

/// <summary>The `inspect` verb: architecture, parameter counts by group, dtypes and file sizes of a Hugging Face model folder.</summary>
public static class InspectCommand
{
    /// <summary>`bitdistill inspect MODEL_DIR`: reads config.json and the safetensors headers only (no weights are loaded).</summary>
    public static Command Create()
    {
        var dirArg = new Argument<string>("model-dir") { Description = "a Hugging Face model folder (config.json + *.safetensors), or a config.json alone" };
        var cmd = new Command("inspect", "Print a model's architecture, parameter counts by group, the dtypes in its checkpoint and its file sizes.");
        cmd.Arguments.Add(dirArg);
        cmd.SetAction(parse => ErrorPolicy.Run("inspect", parse, () => { Inspect(parse.GetValue(dirArg)!, Console.Out); return 0; }));
        return cmd;
    }

    /// <summary>Writes the report for a model folder (or a lone config.json) to <paramref name="w"/>.</summary>
    public static void Inspect(string path, TextWriter w)
    {
        bool isConfigFile = File.Exists(path);
        string folder = isConfigFile ? Path.GetDirectoryName(Path.GetFullPath(path))! : path;
        if (!isConfigFile && !Directory.Exists(folder)) throw new DirectoryNotFoundException($"model folder '{path}' does not exist");
        var config = ModelRegistry.LoadConfig(isConfigFile ? path : Path.Combine(folder, "config.json"));
        var inv = CultureInfo.InvariantCulture;

        w.WriteLine($"model         {Path.GetFullPath(path)}");
        var archs = config.Get("architectures")?.ToJsonString() ?? "";
        w.WriteLine($"architecture  {config.ModelType} {archs}".TrimEnd());
        w.WriteLine($"layers        {config.NumHiddenLayers}");
        w.WriteLine($"hidden        {config.HiddenSize}");
        w.WriteLine($"heads         {config.NumAttentionHeads} query / {config.NumKeyValueHeads} key-value, head_dim {config.HeadDim}"
                    + (config.HeadDim * config.NumAttentionHeads != config.HiddenSize ? $" (heads·head_dim {config.HeadDim * config.NumAttentionHeads} ≠ hidden)" : ""));
        if (config is QwenConfig q)
            w.WriteLine($"intermediate  {q.IntermediateSize} (SwiGLU, {q.GetString("hidden_act") ?? "silu"})");
        w.WriteLine($"vocab         {config.VocabSize}");
        if (ModelRegistry.IsSequenceClassifier(config))
            w.WriteLine($"head          score (sequence classification), labels {(config.Get("id2label") is System.Text.Json.Nodes.JsonObject m ? string.Join(", ", m.Select(x => x.Value?.ToString())) : config.Get("num_labels")?.ToString())}");
        else w.WriteLine($"tied          {(config.TieWordEmbeddings ? "yes (lm_head = embed_tokens)" : "no")}");
        if (config is QwenConfig qc)
        {
            // family-specific lines: each family's config knows its own fields
            w.WriteLine($"rope theta    {qc.RopeTheta.ToString("R", inv)}, max positions {qc.MaxPositionEmbeddings}");
            w.WriteLine($"rms eps       {qc.RmsNormEps.ToString("R", inv)}");
            w.WriteLine($"biases        q/k/v {(qc.QkvBias ? "yes" : "no")}, o {(qc.OutputProjectionBias ? "yes" : "no")}; qk-norm {(qc.QkNorm ? "yes" : "no")}");
        }
        else if (config is Gemma3Config g)
        {
            int local = g.LayerTypes.Count(x => x);
            w.WriteLine($"intermediate  {g.IntermediateSize} (gated GELU, {(g.TanhGelu ? "tanh" : "erf")})");
            w.WriteLine($"attention     {local} sliding-window (window {g.SlidingWindow}, rope base {g.RopeLocalBaseFreq.ToString("R", inv)}) / {g.NumHiddenLayers - local} global (rope base {g.RopeTheta.ToString("R", inv)}"
                        + (g.RopeScalingFactor != 1 ? $", linear scaling {g.RopeScalingFactor.ToString("R", inv)}" : "") + $"); scale query_pre_attn_scalar^-0.5 = {Math.Pow(g.QueryPreAttnScalar, -0.5).ToString("G6", inv)}");
            w.WriteLine($"embed scale   {g.EmbedScale.ToString("R", inv)} (√{g.HiddenSize} in {g.TorchDType ?? "float32"})"
                        + (g.FinalLogitSoftcapping is double fc ? $"; final logit soft-cap {fc.ToString("R", inv)}" : "")
                        + (g.AttnLogitSoftcapping is double ac ? $"; attention soft-cap {ac.ToString("R", inv)}" : ""));
            w.WriteLine($"max positions {config.MaxPositionEmbeddings}");
        }
        else w.WriteLine($"max positions {config.MaxPositionEmbeddings}");

        var shapes = ModelRegistry.ParameterShapes(config); // from the model built on the shape-only meta device
        var groups = new[] { "embeddings", "attention", "mlp", "norms", "lm_head", "score", "other" };
        var counts = groups.ToDictionary(g => g, _ => 0L);
        foreach (var (name, shape) in shapes)
            counts[CausalLanguageModel.ParameterGroup(name)] += shape.Aggregate(1L, (a, b) => a * b);
        long total = counts.Values.Sum();
        w.WriteLine("parameters");
        // a sequence classifier has a score head and no lm_head; "other" only when something falls there
        bool classifier = ModelRegistry.IsSequenceClassifier(config);
        foreach (var g in groups.Where(g => g switch { "lm_head" => !classifier, "score" => classifier, "other" => counts[g] > 0, _ => true }))
        {
            string note = g == "lm_head" && config.TieWordEmbeddings ? "  (tied: counted in embeddings)" : "";
            w.WriteLine($"  {g,-12}{counts[g].ToString("N0", inv),16}{note}");
        }
        w.WriteLine($"  {"total",-12}{total.ToString("N0", inv),16}  ({Human(total, 1000, "")} parameters, {shapes.Count} tensors)");

        var files = isConfigFile ? [Path.GetFullPath(path)] : Directory.GetFiles(folder).Where(f => f.EndsWith(".safetensors", StringComparison.Ordinal) || f.EndsWith(".json", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal).ToList();
        bool hasWeights = File.Exists(Path.Combine(folder, ShardedSafeTensors.IndexFileName)) || File.Exists(Path.Combine(folder, ShardedSafeTensors.SingleFileName))
                          || Directory.GetFiles(folder, "*.safetensors").Length == 1;
        if (!isConfigFile && hasWeights)
        {
            using var st = ShardedSafeTensors.OpenFolder(folder);
            PretrainedCheckpoint.Check(config, shapes, st);
            var byDType = st.Names.GroupBy(n => SafeTensorsDTypes.ToName(st.Entry(n).DType))
                .Select(g => $"{g.Key} ({g.Count()} tensors, {Human(g.Sum(n => st.Entry(n).ByteLength), 1024, "B")})");
            w.WriteLine($"checkpoint    {Path.GetFileName(st.Source)}: {string.Join(", ", byDType)}; matches config.json");
        }
        else w.WriteLine("checkpoint    none (config only)");
        w.WriteLine("files");
        foreach (var f in files) w.WriteLine($"  {Path.GetFileName(f),-40}{Human(new FileInfo(f).Length, 1024, "B"),12}");
    }

    static string Human(long n, int k, string unit)
    {
        string[] prefixes = k == 1024 ? ["", "Ki", "Mi", "Gi", "Ti"] : ["", "K", "M", "B", "T"];
        double v = n; int i = 0;
        while (v >= k && i < prefixes.Length - 1) { v /= k; i++; }
        return i == 0 ? $"{n} {unit}".TrimEnd() : $"{v.ToString("0.##", CultureInfo.InvariantCulture)} {prefixes[i]}{unit}";
    }
}
