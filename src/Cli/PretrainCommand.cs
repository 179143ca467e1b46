using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using BitDistill.Distill.Data;
using BitDistill.Distill.Evaluation;
using BitDistill.Distill.Reports;
using BitDistill.Distill.Training;
using BitDistill.Models;
using BitDistill.Models.Qwen;
using BitDistill.Models.Tokenization;
using BitDistill.Tensors;

namespace BitDistill.Cli;

/// <summary>The `pretrain` verb: train a full-precision Qwen3 or Gemma 3 causal LM from scratch (how a small teacher is made).</summary>
public static class PretrainCommand
{
    /// <summary>`bitdistill pretrain --output DIR [--corpus FILES] [--valid FILE] [--tokenizer PATH] [model and training sizes]`.</summary>
    public static Command Create()
    {
        var output = new Option<string>("--output") { Description = "model folder to write (Hugging Face layout); an interrupted run there resumes", Required = true };
        var corpus = new Option<string[]>("--corpus") { Description = "training text files (.txt paragraphs / .jsonl, optionally .gz); default: the embedded Austen corpus", AllowMultipleArgumentsPerToken = true };
        var valid = new Option<string[]>("--valid") { Description = "held-out text files for perplexity, read as one set (default: the embedded held-out file when the corpus is the embedded one)", AllowMultipleArgumentsPerToken = true };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "tokenizer.json or folder (default: the embedded 2,048-token BPE)" };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 1000, Description = "optimizer steps" };
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => 8, Description = "sequences per micro-batch (a step is --batch × --grad-accumulation × MPI ranks sequences)" };
        var accumulation = new Option<int>("--grad-accumulation") { DefaultValueFactory = _ => 1, Description = TrainingArguments.GradAccumulationHelp };
        var seq = new Option<int>("--seq-len") { DefaultValueFactory = _ => 128, Description = "tokens per training sequence (at most the model's max_position_embeddings)" };
        var lr = new Option<float>("--lr") { DefaultValueFactory = _ => 3e-3f, Description = "peak AdamW learning rate (linear warm-up over the first 5 % of steps, then cosine decay)" };
        var hidden = new Option<int>("--hidden") { DefaultValueFactory = _ => 256, Description = "hidden size of the new model (resuming with different model sizes is refused)" };
        var layers = new Option<int>("--layers") { DefaultValueFactory = _ => 4, Description = "number of decoder layers" };
        var heads = new Option<int>("--heads") { DefaultValueFactory = _ => 4, Description = "attention (query) heads" };
        var kvHeads = new Option<int>("--kv-heads") { DefaultValueFactory = _ => 2, Description = "key/value heads (grouped-query attention; must divide --heads)" };
        var headDim = new Option<int>("--head-dim") { DefaultValueFactory = _ => 64, Description = "size of each attention head" };
        var inter = new Option<int>("--intermediate") { DefaultValueFactory = _ => 768, Description = "SwiGLU MLP width" };
        var architecture = new Option<string>("--architecture") { DefaultValueFactory = _ => "qwen3", Description = "qwen3 (SwiGLU, QK-norm) or gemma3 (Gemma 3: sandwich norms, gated GELU, interleaved sliding-window and global layers)" };
        var slidingWindow = new Option<int>("--sliding-window") { DefaultValueFactory = _ => 64, Description = "gemma3 only: keys a local layer sees (the query's own included)" };
        var slidingPattern = new Option<int>("--sliding-window-pattern") { DefaultValueFactory = _ => 2, Description = "gemma3 only: every N-th layer is global, the others local (Gemma 3 uses 6)" };
        var seed = new Option<ulong>("--seed") { DefaultValueFactory = _ => 1UL, Description = "seed of the weight initialisation and the data order (same seed and threads: bitwise the same model)" };
        var overwrite = new Option<bool>("--overwrite") { Description = "write into a non-empty --output folder that another verb wrote" };
        var checkpointEvery = new Option<int>("--checkpoint-every") { DefaultValueFactory = _ => 200, Description = "steps between checkpoints (an interrupted run resumes from the last)" };
        var cmd = new Command("pretrain", "Train a full-precision Qwen3 (or Gemma 3) causal LM from scratch; shows progress, checkpoints and resumes, writes the model, tokenizer and loss.png.");
        var parseSpecial = new Option<bool>("--parse-special") { Description = TaskArguments.ParseSpecialHelp };
        foreach (var o in new Option[] { output, corpus, valid, tokenizer, steps, batch, accumulation, seq, lr, hidden, layers, heads, kvHeads, headDim, inter, architecture, slidingWindow, slidingPattern, seed, checkpointEvery, overwrite, parseSpecial }) cmd.Options.Add(o);
        cmd.SetAction(p => ErrorPolicy.Run("pretrain", p, () =>
        {
            foreach (var (name, value) in new[] { ("--steps", p.GetValue(steps)), ("--batch", p.GetValue(batch)), ("--seq-len", p.GetValue(seq)), ("--hidden", p.GetValue(hidden)),
                         ("--layers", p.GetValue(layers)), ("--heads", p.GetValue(heads)), ("--kv-heads", p.GetValue(kvHeads)), ("--head-dim", p.GetValue(headDim)),
                         ("--intermediate", p.GetValue(inter)), ("--checkpoint-every", p.GetValue(checkpointEvery)), ("--grad-accumulation", p.GetValue(accumulation)),
                         ("--sliding-window", p.GetValue(slidingWindow)), ("--sliding-window-pattern", p.GetValue(slidingPattern)) })
                if (value <= 0) throw new UsageException($"{name} must be positive, got {value}");
            string arch = p.GetValue(architecture)!;
            if (arch is not ("qwen3" or "gemma3")) throw new UsageException($"--architecture must be qwen3 or gemma3, got '{arch}'");
            if (!(p.GetValue(lr) > 0)) throw new UsageException($"--lr must be positive, got {p.GetValue(lr).ToString(CultureInfo.InvariantCulture)}");
            var data = DemoCommand.EmbeddedDataDir;
            var tokPath = p.GetValue(tokenizer) ?? Path.Combine(data, "tokenizer");
            var tok = TextTokenizer.Load(tokPath);
            using var claimed = OutputFolder.Claim("pretrain", p.GetValue(output)!, p.GetValue(overwrite), [p.GetValue(tokenizer), .. p.GetValue(valid) ?? [], .. p.GetValue(corpus) ?? []]);
            int eos = tok.TokenToId("<|endoftext|>") ?? tok.EosId ?? throw new InvalidDataException($"{tokPath}: no end-of-text token");
            var files = p.GetValue(corpus) is { Length: > 0 } c ? c : [Path.Combine(data, "corpus", "austen.train.txt.gz")];
            string[]? validPaths = p.GetValue(valid) is { Length: > 0 } v ? v : p.GetValue(corpus) is { Length: > 0 } ? null : [Path.Combine(data, "corpus", "austen.valid.txt.gz")];
            var train = TokenDataset.FromFiles(files, tok, eos, p.GetValue(parseSpecial));
            var val = validPaths is null ? null : TokenDataset.FromFiles(validPaths, tok, eos, p.GetValue(parseSpecial));
            var inv = CultureInfo.InvariantCulture;
            IModelConfig config = arch == "gemma3"
                ? ModelRegistry.ParseConfig((JsonObject)JsonNode.Parse(string.Create(inv, $$"""
                    {"model_type": "gemma3_text", "architectures": ["Gemma3ForCausalLM"], "vocab_size": {{tok.VocabSize}}, "hidden_size": {{p.GetValue(hidden)}},
                     "intermediate_size": {{p.GetValue(inter)}}, "num_hidden_layers": {{p.GetValue(layers)}}, "num_attention_heads": {{p.GetValue(heads)}},
                     "num_key_value_heads": {{p.GetValue(kvHeads)}}, "head_dim": {{p.GetValue(headDim)}}, "query_pre_attn_scalar": {{p.GetValue(headDim)}},
                     "rms_norm_eps": 1e-6, "rope_theta": 1000000, "rope_local_base_freq": 10000, "rope_scaling": null,
                     "sliding_window": {{p.GetValue(slidingWindow)}}, "sliding_window_pattern": {{p.GetValue(slidingPattern)}},
                     "final_logit_softcapping": null, "attn_logit_softcapping": null, "tie_word_embeddings": true,
                     "max_position_embeddings": {{Math.Max(512, p.GetValue(seq))}}, "hidden_activation": "gelu_pytorch_tanh",
                     "initializer_range": 0.02, "eos_token_id": {{eos}}, "torch_dtype": "float32"}
                    """))!, "pretrain options")
                : QwenConfig.Parse(string.Create(inv, $$"""
                    {"model_type": "qwen3", "architectures": ["Qwen3ForCausalLM"], "vocab_size": {{tok.VocabSize}}, "hidden_size": {{p.GetValue(hidden)}},
                     "intermediate_size": {{p.GetValue(inter)}}, "num_hidden_layers": {{p.GetValue(layers)}}, "num_attention_heads": {{p.GetValue(heads)}},
                     "num_key_value_heads": {{p.GetValue(kvHeads)}}, "head_dim": {{p.GetValue(headDim)}}, "rms_norm_eps": 1e-6, "rope_theta": 10000,
                     "tie_word_embeddings": true, "max_position_embeddings": {{Math.Max(512, p.GetValue(seq))}}, "hidden_act": "silu",
                     "initializer_range": 0.02, "eos_token_id": {{eos}}, "torch_dtype": "float32"}
                    """), "pretrain options");
            var model = ModelRegistry.Create(config, new Generator(p.GetValue(seed)));
            string outDir = claimed.Path;
            Console.WriteLine(string.Create(inv, $"pretraining a {config.NumHiddenLayers}-layer {(arch == "gemma3" ? "Gemma 3" : "Qwen3")} ({model.ParameterCount():N0} parameters) on {train.Count:N0} tokens"));
            if (val is not null)
            {
                var protocol = new PerplexityProtocol(p.GetValue(seq), new TrainingOptions().EvalWindows);
                Console.WriteLine(string.Create(inv, $"held-out perplexity is measured on {protocol.Describe(val)}; the unigram baseline there: {UnigramBaseline.Perplexity(train.Tokens, val, tok.VocabSize, protocol):F2}"));
            }
            using var interrupt = new Interruption();
            var h = CausalLmTrainer.Train(model, train, val, new TrainingOptions
            {
                Cancellation = interrupt.Token,
                Steps = p.GetValue(steps), BatchSize = p.GetValue(batch), GradAccumulation = p.GetValue(accumulation), SeqLen = p.GetValue(seq), LearningRate = p.GetValue(lr),
                WarmupSteps = Math.Max(1, p.GetValue(steps) / 20), Seed = p.GetValue(seed), CheckpointDir = Path.Combine(outDir, "run"),
                Log = Console.Out, Name = "pretrain", EvalEvery = Math.Max(100, p.GetValue(steps) / 5), CheckpointEvery = p.GetValue(checkpointEvery),
            });
            model.SavePretrained(outDir);
            ModelFolders.CopyTokenizer(tokPath, outDir);
            // validation perplexity as its cross-entropy (log ppl), on the same axis as the training loss
            Plots.TrainingCurves(Path.Combine(outDir, "loss.png"), "Pretraining loss", "step", "cross-entropy (nats/token)",
                [("train", h.Loss.Select(l => (double)l.Step).ToArray(), h.Loss.Select(l => l.Loss).ToArray())],
                [("validation", h.Validation.Select(v => (double)v.Step).ToArray(), h.Validation.Select(v => Math.Log(v.Perplexity)).ToArray())]);
            Console.WriteLine($"wrote {outDir} (model, tokenizer, loss.png)");
            return 0;
        }));
        return cmd;
    }
}
