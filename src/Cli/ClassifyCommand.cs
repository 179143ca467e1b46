using System.CommandLine;
using System.Text.Json;
using BitDistill.Autograd;
using BitDistill.Distill.Data;
using BitDistill.Distill.Evaluation;
using BitDistill.Models;
using BitDistill.Models.Classification;
using BitDistill.Models.Tokenization;
using BitDistill.Runtime;
using BitDistill.Tensors;

namespace BitDistill.Cli;

/// <summary>The `classify` verb: the label and the label probabilities of a text (or text pair) from a model fine-tuned on a
/// classification task, full precision or ternary; an exported ternary model runs on the inference runtime.</summary>
public static class ClassifyCommand
{
    /// <summary>`bitdistill classify --model DIR (--text TEXT [--text-pair TEXT] | --jsonl FILE)`.</summary>
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "a model fine-tuned on a classification task (with task.json and its tokenizer)", Required = true };
        var text = new Option<string?>("--text") { Description = "the text to classify" };
        var pair = new Option<string?>("--text-pair") { Description = "the second text of a pair" };
        var jsonl = new Option<string?>("--jsonl") { Description = "one {\"text\": …, \"text_pair\": …} per line; prints one JSON result per line" };
        var cmd = new Command("classify", "Classify a text (or text pair) with a fine-tuned model; prints the label and the label probabilities.");
        var task = new TaskArguments();
        foreach (var o in new Option[] { model, text, pair, jsonl, task.Head }) cmd.Options.Add(o);
        cmd.SetAction(p => ErrorPolicy.Run("classify", p, () =>
        {
            string dir = p.GetValue(model)!;
            if (!Directory.Exists(dir)) throw new UsageException($"model folder '{dir}' does not exist");
            if ((p.GetValue(text) is null) == (p.GetValue(jsonl) is null)) throw new UsageException("give exactly one of --text TEXT and --jsonl FILE");
            var spec = task.SpecOf(p, dir);
            if (spec.Kind != TaskKind.Classification) throw new UsageException($"{dir} was fine-tuned for summarization; use generate or evaluate");
            var inputs = new List<(string Text, string? Pair)>();
            if (p.GetValue(text) is { } t) inputs.Add((t, p.GetValue(pair)));
            else
            {
                var path = p.GetValue(jsonl)!;
                if (!File.Exists(path)) throw new UsageException($"--jsonl {path}: file not found");
                int n = 0;
                foreach (var line in File.ReadLines(path))
                {
                    n++;
                    if (string.IsNullOrWhiteSpace(line)) continue;
                    try
                    {
                        using var doc = JsonDocument.Parse(line);
                        var root = doc.RootElement;
                        var s = root.TryGetProperty("text", out var tv) && tv.ValueKind == JsonValueKind.String ? tv.GetString()! : throw new UsageException($"{path}:{n}: field 'text' (a string) is missing");
                        inputs.Add((s, root.TryGetProperty("text_pair", out var pv) && pv.ValueKind == JsonValueKind.String ? pv.GetString() : null));
                    }
                    catch (JsonException e) { throw new UsageException($"{path}:{n}: malformed JSON ({e.Message})"); }
                }
            }
            var tokenizer = TextTokenizer.Load(dir);
            TokenizerPairing.Check(tokenizer, ModelRegistry.LoadConfig(Path.Combine(dir, "config.json")));
            var encoder = spec.Encoder(tokenizer);
            var rows = inputs.Select((x, i) => encoder.Encode(new TaskExample(x.Text, x.Pair, spec.Labels[0], $"input {i + 1}"))).ToArray();
            int k = 0;
            void Print(float[] pr)
            {
                if (pr.Any(v => !float.IsFinite(v))) throw new InvalidDataException($"{dir}: the model's class scores are not finite; its weights may be damaged");
                int best = Array.IndexOf(pr, pr.Max());
                var result = new Dictionary<string, object> { ["label"] = spec.Labels[best], ["probabilities"] = spec.Labels.Select((l, i) => (l, i)).ToDictionary(x => x.l, x => float.IsFinite(pr[x.i]) ? (object?)Math.Round(pr[x.i], 6) : null) };
                if (inputs.Count > 1) result["text"] = inputs[k].Text;
                Console.WriteLine(JsonSerializer.Serialize(result));
            }
            if (ModelRegistry.LoadConfig(Path.Combine(dir, "config.json")).Has(PackedExportInfo.Field))
            {
                if (spec.Head == ClassificationHead.Score) throw new UsageException($"{dir}: an exported model with a score head; the runtime runs label-word classifiers only for now");
                // an exported ternary model runs on the inference runtime: each prompt unpadded, the label words' next-token logits
                var runtime = RuntimeModel.Load(dir);
                var session = runtime.CreateSession(Math.Max(1, rows.Max(r => r.Prompt.Length)));
                var labelIds = encoder.LabelTokenIds;
                for (; k < rows.Length; k++)
                {
                    session.Reset();
                    session.Append(rows[k].Prompt);
                    var logits = session.Logits.ToFloatArray();
                    var label = labelIds.Select(id => (double)logits[id]).ToArray();
                    double max = label.Max(), sum = label.Sum(v => Math.Exp(v - max));
                    Print(label.Select(v => (float)(Math.Exp(v - max) / sum)).ToArray());
                }
                return 0;
            }
            var loaded = ModelRegistry.FromPretrained(dir);
            Func<Tensor, Tensor, Variable> scores = spec.Head == ClassificationHead.Score
                ? TaskEvaluator.ScoreHeadOf(loaded, spec.Labels).Scores
                : new LabelWordClassifier(loaded, encoder.LabelTokenIds).Scores;
            using (GradMode.NoGrad())
                foreach (var batch in new EncodedTask(rows, spec.Kind, encoder.PadId).PromptBatches(16))
                {
                    var probs = scores(batch.InputIds, batch.AttentionMask).Value.Softmax(-1).ToArray<float>();
                    int c = spec.Labels.Count;
                    for (int r = 0; r < batch.Rows.Count; r++, k++) Print(probs.AsSpan(r * c, c).ToArray());
                }
            return 0;
        }));
        return cmd;
    }
}
