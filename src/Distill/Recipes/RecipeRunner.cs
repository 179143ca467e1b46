using BitDistill.Distill.Data;
using BitDistill.Distill.Evaluation;
using BitDistill.Distill.Objectives;
using BitDistill.Distill.Stages;
using BitDistill.Distill.Training;
using BitDistill.Models;
using BitDistill.Models.Classification;
using BitDistill.Tensors;

namespace BitDistill.Distill.Recipes;

/// <summary>Runs one recipe end to end on a task: the student from the base model (a copy for full precision; stage 1's
/// refinement for ternary), stage 2 on the corpus when the recipe continues pre-training, then task fine-tuning with the
/// answer-token cross-entropy or, when the recipe distils, CE + λ·LD + γ·AD against the teacher. With a score head
/// (<see cref="ClassificationHead.Score"/>) the task stage trains the student's decoder stack with a score head (the teacher's
/// copied when distilling, else a new one); stages 1 and 2 are unchanged. Flip rates are sampled in
/// stages 2 and 3. The best validation model is the result.</summary>
public static class RecipeRunner
{
    /// <summary>Runs <paramref name="recipe"/>; <paramref name="teacher"/> is needed when the recipe distils, a corpus when it
    /// continues pre-training.</summary>
    public static RecipeResult Run(Recipe recipe, CausalLanguageModel baseModel, CausalLanguageModel? teacher, EncodedTask train,
        IReadOnlyList<EncodedExample> validation, TaskEncoder encoder, RecipeRunOptions o)
    {
        recipe.Validate();
        if (recipe.UsesTeacher && teacher is null) throw new ArgumentException($"recipe '{recipe.Name}' distils: give a teacher (a model fine-tuned on the task)");
        if (recipe.ContinuedPretraining && o.Corpus is null) throw new ArgumentException($"recipe '{recipe.Name}' continues pre-training (stage 2): give a corpus, or drop stage 2");
        bool scoreHead = encoder.Kind == TaskKind.Classification && encoder.Head == ClassificationHead.Score;
        if (recipe.ContinuedPretraining && baseModel is ISequenceClassifier)
            throw new ArgumentException($"recipe '{recipe.Name}' continues pre-training (stage 2), which trains a causal LM: the base model ({baseModel.Config.Source}) has a score head instead of an LM head; start from its causal LM");
        if (!scoreHead && baseModel is ISequenceClassifier)
            throw new ArgumentException($"the base model ({baseModel.Config.Source}) has a score head but the task is answered by label words; use the score head");
        o.Log?.WriteLine($"== {RecipeFile.Describe(recipe)}");
        CausalLanguageModel student;
        if (recipe.BitNet is null)
        {
            student = ModelRegistry.Create(baseModel.Config);
            student.LoadStateDict(baseModel.StateDict(), strict: true, source: "base model");
        }
        else student = new RefineStage(recipe.BitNet).Run(baseModel).Model;
        var flips = new List<FlipRateTracker>();
        TrainingHistory? stage2 = null;
        if (recipe.ContinuedPretraining)
        {
            // stage 2 does not depend on the task: a cached student from the same stage-1 and stage-2 settings is reused
            var key = string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"{recipe.BitNet} steps={o.Stage2.Steps} batch={o.Stage2.BatchSize} seq={o.Stage2.SeqLen} lr={o.Stage2.LearningRate:R} wd={o.Stage2.WeightDecay:R} seed={o.Stage2.Seed}");
            if (o.Stage2Cache is { } cache && cache.TryGet(key, out var weights, out var cachedHistory, out var cachedFlips))
            {
                student.LoadStateDict(weights, strict: true, source: "stage-2 cache");
                stage2 = cachedHistory;
                flips.Add(cachedFlips);
                o.Log?.WriteLine($"== stage 2: reusing the student trained earlier in this run with the same settings");
            }
            else
            {
                var tracker = new FlipRateTracker(student, "stage 2", o.FlipRateEvery);
                tracker.Start();
                flips.Add(tracker);
                var s2 = o.Stage2 with { CheckpointDir = Sub(o.CheckpointDir, "stage2"), Name = recipe.Name + "/stage2", OnStep = tracker.OnStep, Log = o.Log, Cancellation = o.Cancellation };
                stage2 = new ContinuedPretrainingStage(o.Corpus!, o.CorpusValidation, s2).Run(student).History;
                o.Stage2Cache?.Add(key, student.StateDict(), stage2, tracker);
            }
        }
        if (scoreHead && student is not ISequenceClassifier) student = AttachScoreHead(student, encoder, recipe.UsesTeacher ? teacher : null, o);
        if (scoreHead) TaskEvaluator.ScoreHeadOf(student, encoder.LabelWords!.Labels);
        if (recipe.UsesTeacher && (teacher is ISequenceClassifier) != (student is ISequenceClassifier))
            throw new ArgumentException(teacher is ISequenceClassifier
                ? $"the teacher ({teacher!.Config.Source}) has a score head but the student answers by label words"
                : $"the student answers by a score head, so the teacher must have one too; {teacher!.Config.Source} is a causal LM (fine-tune it with the score head)");
        ITrainingObjective objective = recipe.UsesTeacher
            ? new DistillationObjective(teacher!, o.Distillation ?? DistillationOptions.From(recipe))
            : new CausalLmObjective();
        Action<long>? onStep = null;
        if (recipe.BitNet is not null)
        {
            var tracker = new FlipRateTracker(student, recipe.UsesTeacher ? "stage 3" : "fine-tuning", o.FlipRateEvery);
            tracker.Start();
            flips.Add(tracker);
            onStep = tracker.OnStep;
        }
        var taskOptions = o.Task with { CheckpointDir = Sub(o.CheckpointDir, "task"), Name = recipe.Name + "/task", OnStep = onStep, Log = o.Log, Cancellation = o.Cancellation };
        var history = new TaskFineTuningStage(train, validation, encoder, objective, taskOptions, o.EvalBatchSize, o.MaxNewTokens).Run(student).History!;
        // the best validation model, when one was kept
        var best = taskOptions.CheckpointDir is null ? null : Path.Combine(taskOptions.CheckpointDir, TrainingCheckpoint.BestFolderName);
        if (history.Best is not null && best is not null && Directory.Exists(best))
            student.LoadStateDict(ModelRegistry.FromPretrained(best).StateDict(), strict: true, source: best);
        return new RecipeResult(student, stage2, history, flips);
    }

    // The task stage of a score-head run starts from the student's decoder stack with a score head: the teacher's when there is
    // one (a distilled student initialises its head from the fine-tuned teacher's, as it initialises everything else from
    // trained weights rather than at random; the stages before it trained a causal LM, so it has no head of its own), else a
    // new one drawn N(0, initializer_range) from the task seed, as Hugging Face starts a head on a pretrained model.
    // The task's pad id goes into the config, so Hugging Face pools the saved classifier at the same token.
    private static CausalLanguageModel AttachScoreHead(CausalLanguageModel student, TaskEncoder encoder, CausalLanguageModel? teacher, RecipeRunOptions o)
    {
        var labels = encoder.LabelWords!.Labels;
        var model = ModelRegistry.WithScoreHead(student, labels, new Generator(o.Task.Seed), encoder.PadId);
        if (teacher is ISequenceClassifier t)
        {
            var w = t.Score.Weight.Value;
            if (!t.Labels.SequenceEqual(labels))
                throw new ArgumentException($"the teacher's score head answers [{string.Join(", ", t.Labels)}] ({teacher.Config.Source}), the task [{string.Join(", ", labels)}]");
            if (w.Shape.SequenceEqual(((ISequenceClassifier)model).Score.Weight.Value.Shape))
            {
                model.LoadStateDict(new Dictionary<string, Tensor> { [model.LmHeadName + ".weight"] = w }, strict: false, source: "the teacher's score head");
                o.Log?.WriteLine("== score head: initialised from the teacher's");
                return model;
            }
            o.Log?.WriteLine($"== score head: the teacher's is {Tensor.ShapeString(w.Shape)} (another hidden size), so the student's starts new");
        }
        else o.Log?.WriteLine($"== score head: new, N(0, initializer_range) from seed {o.Task.Seed}");
        return model;
    }

    private static string? Sub(string? dir, string name) => dir is null ? null : Path.Combine(dir, name);
}
