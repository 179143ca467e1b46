using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using BitDistill.Autograd;
using BitDistill.Distill.Data;
using BitDistill.Distill.Objectives;
using BitDistill.Distill.Recipes;
using BitDistill.Distill.Tasks;
using BitDistill.Models;
using BitDistill.Models.BitNet;

namespace BitDistill.Cli;

/// <summary>The `distill` verb: BitDistill — stage 1 refines the base model into a ternary student (SubLN), stage 2 continues
/// pre-training it on a corpus, stage 3 fine-tunes it on the task with CE + λ·LD + γ·AD against the fine-tuned teacher.
/// Each part can be switched off for the paper's ablations; a recipe file can describe the run and flags override it.</summary>
public static class DistillCommand
{
    /// <summary>`bitdistill distill --teacher DIR [--base DIR] --train FILE [data flags] --corpus FILE... --output DIR [ablations]`.</summary>
    public static Command Create()
    {
        var teacher = new Option<string>("--teacher") { Description = "the full-precision model fine-tuned on the task (bitdistill finetune output, with task.json)", Required = true };
        var baseDir = new Option<string?>("--base") { Description = "the model the student starts from (default: the teacher's base model, as the paper does; a smaller model is allowed)" };
        var output = new Option<string>("--output") { Description = "folder for the ternary student", Required = true };
        var corpus = new Option<string[]>("--corpus") { Description = "general text for stage 2 (.txt / .jsonl / .parquet, optionally .gz)", AllowMultipleArgumentsPerToken = true };
        var stage2Tokens = new Option<long>("--stage2-tokens") { Description = "tokens of continued pre-training (stage 2)", DefaultValueFactory = _ => 100_000 };
        var stage2Seq = new Option<int>("--stage2-seq-len") { Description = "sequence length in stage 2", DefaultValueFactory = _ => 128 };
        var stage2Lr = new Option<float?>("--stage2-lr") { Description = "peak learning rate of stage 2 (default: --lr)" };
        var recipeFile = new Option<string?>("--recipe") { Description = "a recipe JSON file (e.g. {\"base\": \"bitdistill\", \"bitnet\": {\"subln\": \"all\"}}); flags override it" };
        var subln = new Option<string?>("--subln") { Description = "SubLN placement: paper (inputs of o_proj and down_proj), all (before every projection), none" };
        var noStage2 = new Option<bool>("--no-stage2") { Description = "ablation: skip continued pre-training" };
        var noLd = new Option<bool>("--no-ld") { Description = "ablation: no logits distillation" };
        var noAd = new Option<bool>("--no-ad") { Description = "ablation: no attention-relation distillation" };
        var lambda = new Option<double?>("--lambda") { Description = "weight λ of the logits distillation (paper: 10 for classification, 1 for summarization)" };
        var gamma = new Option<double?>("--gamma") { Description = "weight γ of the attention-relation distillation (paper: 1e5 classification, 1e3 summarization)" };
        var tau = new Option<double?>("--tau") { Description = "distillation temperature τ (paper: 5)" };
        var adLayer = new Option<int?>("--ad-layer") { Description = "student layer whose Q/K/V relations are distilled (default: layer 22 of 28 scaled to the depth)" };
        var teacherLayer = new Option<int?>("--teacher-ad-layer") { Description = "teacher layer for the relations (default: the same relative depth)" };
        var relationHeads = new Option<int>("--relation-heads") { Description = "relation heads the Q/K/V widths are split into", DefaultValueFactory = _ => 32 };
        var relation = new Option<string>("--relation") { Description = "relation scores: paper (softmax(A·Aᵀ/√d_r)) or l2norm (the official code: L2-normalised A)", DefaultValueFactory = _ => "paper" };
        var ldAll = new Option<bool>("--ld-all-tokens") { Description = "logits distillation over all non-padding tokens (default: the answer tokens the CE covers)" };
        var weightQuant = new Option<string?>("--weight-quant") { Description = "ternary weight quantiser used during training (stages 2 and 3): "
            + "absmean (one scale per tensor, the paper), per-channel (absmean per output row), group:N (absmean per group of N inputs); "
            + "gptq[:R] (GPTQ-style: each BitLinear keeps a running average (decay 0.95 per batch, up to 512 strided token rows each) of XᵀX/m of its input after SubLN, and every R optimizer steps, "
            + $"default {BitNetConfig.DefaultRequantEvery}, and at the first batch, solves GPTQ on the current latent weights for per-row scales and an error-feedback "
            + "correction D; between solves the codes are re-rounded every step as ternarise((W + D)/scale)); "
            + "awq[:R] (AWQ-style: a running mean |x| per input channel a gives input scales s ∝ a^α, with α re-searched on an 11-point grid "
            + "against the running XᵀX/m every R steps and at the first batch; every step the layer computes (x/s)·ternarise(W·diag(s))ᵀ with per-row absmean, "
            + "and the gradient reaches W through diag(s)). Both train through the straight-through estimator to the latent weights "
            + "and save their statistics and solution with the model (config.json bitnet.weight_quant)" };
        var overwrite = new Option<bool>("--overwrite") { Description = "write into a non-empty --output folder that another verb wrote" };
        var task = new TaskArguments(); var training = new TrainingArguments();
        task.Head.Description = "how the classes are answered, as the teacher does (default: the teacher's task.json): label-words, or score (the teacher must be a score-head model; the student's score head starts from the teacher's, and LD is over the two score heads' logits)";
        var cmd = new Command("distill", "Distil a fine-tuned full-precision teacher into a 1.58-bit student with BitDistill (refine + SubLN, continued pre-training, logits and attention-relation distillation).");
        foreach (var o in new Option[] { teacher, baseDir, output, corpus, stage2Tokens, stage2Seq, stage2Lr, recipeFile, subln, noStage2, noLd, noAd, lambda, gamma, tau, adLayer, teacherLayer, relationHeads, relation, ldAll, weightQuant, overwrite })
            cmd.Options.Add(o);
        task.AddTo(cmd); training.AddTo(cmd);
        cmd.SetAction(p => ErrorPolicy.Run("distill", p, () =>
        {
            var quant = p.GetValue(weightQuant) is { } wq ? WeightQuant(wq) : null; // checked first: a bad spec is named before any file is read
            string teacherDir = p.GetValue(teacher)!;
            if (!Directory.Exists(teacherDir)) throw new UsageException($"--teacher {teacherDir}: folder not found");
            var spec = TaskSpec.Load(teacherDir);
            // the head follows the teacher: a score-head student distils a score-head teacher's logits
            bool teacherScores = ModelRegistry.IsSequenceClassifier(ModelRegistry.LoadConfig(Path.Combine(teacherDir, "config.json")));
            if (task.HeadOf(p, spec.Kind) is { } head && (head == ClassificationHead.Score) != teacherScores)
                throw new UsageException(head == ClassificationHead.Score
                    ? $"--head score: the teacher {teacherDir} has no score head (config.json is a causal LM); fine-tune it with --head score"
                    : $"--head label-words: the teacher {teacherDir} has a score head (config.json architectures *ForSequenceClassification); use --head score");
            if (teacherScores != (spec.Head == ClassificationHead.Score))
                throw new UsageException($"--teacher {teacherDir}: task.json says head {TaskSpec.HeadName(spec.Head)} but config.json {(teacherScores ? "has a score head" : "is a causal LM")}");
            string baseModelDir = p.GetValue(baseDir) ?? BaseOf(teacherDir);
            var recipe = p.GetValue(recipeFile) is { } rf ? RecipeFile.Load(rf)
                : spec.Kind == TaskKind.Summarization ? KnownRecipes.ForSummarization(KnownRecipes.BitDistill) : KnownRecipes.BitDistill;
            if (p.GetValue(subln) is { } sl)
                recipe = recipe with { BitNet = (recipe.BitNet ?? new BitNetConfig()) with { SubLn = sl switch { "paper" => SubLnPlacement.Paper, "all" => SubLnPlacement.All, "none" => SubLnPlacement.None, _ => throw new UsageException($"--subln must be paper, all or none, got '{sl}'") } } };
            if (quant is { } q)
            {
                recipe = recipe with { BitNet = (recipe.BitNet ?? new BitNetConfig()) with { WeightScale = q.WeightScale, GroupSize = q.GroupSize, WeightQuant = q.WeightQuant, RequantEvery = q.RequantEvery } };
            }
            if (p.GetValue(noStage2)) recipe = recipe with { ContinuedPretraining = false };
            if (p.GetValue(noLd)) recipe = recipe with { LogitsDistillationWeight = 0 };
            if (p.GetValue(noAd)) recipe = recipe with { AttentionDistillationWeight = 0 };
            if (p.GetValue(lambda) is { } l) recipe = recipe with { LogitsDistillationWeight = l };
            if (p.GetValue(gamma) is { } g) recipe = recipe with { AttentionDistillationWeight = g };
            if (p.GetValue(tau) is { } t) recipe = recipe with { Temperature = t };
            if (p.GetValue(adLayer) is { } al) recipe = recipe with { AttentionLayer = al };
            if (recipe.BitNet is null) throw new UsageException($"recipe '{recipe.Name}' is full precision: distill makes ternary students (use finetune for FP-SFT)");
            try { recipe.Validate(); } catch (ArgumentException e) { throw new UsageException(e.Message); }
            var files = p.GetValue(corpus) ?? [];
            if (recipe.ContinuedPretraining && files.Length == 0) throw new UsageException("stage 2 needs --corpus FILE... (or --no-stage2)");
            foreach (var f in files) if (!File.Exists(f)) throw new UsageException($"--corpus {f}: file not found");
            if (p.GetValue(stage2Tokens) <= 0 || p.GetValue(stage2Seq) < 8) throw new UsageException("--stage2-tokens must be positive and --stage2-seq-len at least 8");
            var relationKind = p.GetValue(relation) switch { "paper" => RelationKind.ScaledDotProduct, "l2norm" => RelationKind.L2Normalized, var r => throw new UsageException($"--relation must be paper or l2norm, got '{r}'") };
            if (recipe.ContinuedPretraining && File.Exists(Path.Combine(baseModelDir, "config.json"))
                && ModelRegistry.LoadConfig(Path.Combine(baseModelDir, "config.json")).MaxPositionEmbeddings is var positions && p.GetValue(stage2Seq) > positions)
                throw new UsageException($"--stage2-seq-len {p.GetValue(stage2Seq)} is longer than {baseModelDir}'s max_position_embeddings ({positions})");

            var run = TaskRun.Prepare(p, task, training, baseModelDir, tokenizer: teacherDir, p.GetValue(output)!, "distill", p.GetValue(overwrite), spec);
            using var claimed = run.Output;
            using var interrupt = new Interruption();
            var teacherModel = ModelRegistry.FromPretrained(teacherDir);
            var baseModel = ModelRegistry.FromPretrained(baseModelDir);
            TokenDataset? corpusData = null;
            if (recipe.ContinuedPretraining)
                corpusData = TokenDataset.FromFiles(files, run.Tokenizer, run.Encoder.EosId, run.Encoder.ParseSpecialTokens);
            int seq = p.GetValue(stage2Seq);
            int stage2Steps = (int)Math.Max(1, p.GetValue(stage2Tokens) / ((long)run.Options.BatchSize * run.Options.GradAccumulation * DataParallel.Communicator.Size * seq));
            var distillation = DistillationOptions.From(recipe) with
            {
                TeacherLayer = p.GetValue(teacherLayer), RelationHeads = p.GetValue(relationHeads), Relation = relationKind, LogitsOverAllTokens = p.GetValue(ldAll),
            };
            var options = run.RunOptions(interrupt.Token) with
            {
                Corpus = corpusData, Distillation = distillation,
                Stage2 = run.Options with { Steps = stage2Steps, SeqLen = seq, LearningRate = p.GetValue(stage2Lr) ?? run.Options.LearningRate, WarmupSteps = Math.Max(1, stage2Steps / 20), EvalEvery = 0 },
            };
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"teacher {teacherDir}, student from {baseModelDir}; stage 2: {(recipe.ContinuedPretraining ? $"{stage2Steps} steps × {run.Options.BatchSize} × {seq} tokens" : "skipped")}; stage 3: {run.Options.Steps} steps"));
            var result = RecipeRunner.Run(recipe, baseModel, teacherModel, run.Train, run.Validation, run.Encoder, options);
            run.Save(result, recipe, baseModelDir, teacherDir);
            return 0;
        }));
        return cmd;
    }

    // --weight-quant absmean | per-channel | group:N | gptq[:R] | awq[:R]
    internal static BitNetConfig WeightQuant(string spec)
    {
        if (spec == "absmean") return new BitNetConfig { WeightScale = WeightScaleMode.PerTensor };
        if (spec == "per-channel") return new BitNetConfig { WeightScale = WeightScaleMode.PerChannel };
        if (spec.StartsWith("group:", StringComparison.Ordinal))
            return int.TryParse(spec[6..], NumberStyles.None, CultureInfo.InvariantCulture, out int g) && g > 0
                ? new BitNetConfig { WeightScale = WeightScaleMode.PerGroup, GroupSize = g }
                : throw new UsageException($"--weight-quant {spec}: the group size must be a positive integer");
        var (name, every) = spec.IndexOf(':') is int i and >= 0 ? (spec[..i], spec[(i + 1)..]) : (spec, null);
        var kind = name switch
        {
            "gptq" => WeightQuantizer.Gptq,
            "awq" => WeightQuantizer.Awq,
            _ => throw new UsageException($"--weight-quant must be absmean, per-channel, group:N, gptq[:R] or awq[:R], got '{spec}'"),
        };
        int r = BitNetConfig.DefaultRequantEvery;
        if (every is not null && !(int.TryParse(every, NumberStyles.None, CultureInfo.InvariantCulture, out r) && r > 0))
            throw new UsageException($"--weight-quant {spec}: R (optimizer steps between solves) must be a positive integer");
        return new BitNetConfig { WeightScale = WeightScaleMode.PerChannel, WeightQuant = kind, RequantEvery = r };
    }

    // The base model a finetune output started from (run.json), as the paper initialises the student from the teacher's base.
    private static string BaseOf(string teacherDir)
    {
        var runJson = Path.Combine(teacherDir, "run.json");
        if (File.Exists(runJson) && JsonNode.Parse(File.ReadAllText(runJson))?["base_model"]?.GetValue<string>() is { } b && Directory.Exists(b)) return b;
        throw new UsageException($"--base is required: {teacherDir} records no base model that exists (run.json)");
    }
}
