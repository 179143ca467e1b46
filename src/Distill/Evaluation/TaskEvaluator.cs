using BitDistill.Autograd;
using BitDistill.Distill.Data;
using BitDistill.Models;
using BitDistill.Models.Classification;
using BitDistill.Models.Generation;
using BitDistill.Tensors;

namespace BitDistill.Distill.Evaluation;

/// <summary>Runs a model on a task's rows the way it was trained: classification scores the label words' first tokens at the
/// last prompt position, or reads the score head there (left-padded batches, one forward each); summarization generates greedily with the KV cache, several
/// prompts per forward, until end-of-text.</summary>
public static class TaskEvaluator
{
    /// <summary>Predictions and metrics of <paramref name="model"/> on <paramref name="rows"/>.</summary>
    public static TaskEvaluation Evaluate(CausalLanguageModel model, TaskEncoder encoder, IReadOnlyList<EncodedExample> rows,
        int batchSize = 16, int maxNewTokens = 64)
    {
        if (rows.Count == 0) throw new ArgumentException("no rows to evaluate");
        var references = rows.Select(r => r.Row.Answer).ToArray();
        model.Eval();
        if (encoder.Kind == TaskKind.Classification)
        {
            var labels = encoder.LabelWords!.Labels;
            Func<Tensor, Tensor, int[]> predict = encoder.Head == ClassificationHead.Score
                ? ScoreHeadOf(model, labels).Predict
                : model is ISequenceClassifier
                    ? throw new ArgumentException("the model has a score head (its config is a *ForSequenceClassification) but the task is answered by label words; use --head score")
                    : new LabelWordClassifier(model, encoder.LabelTokenIds).Predict;
            var predictions = new List<string>(rows.Count);
            using (GradMode.NoGrad())
                foreach (var batch in new EncodedTask(rows, encoder.Kind, encoder.PadId).PromptBatches(batchSize))
                    using (TensorScope.Begin())
                        predictions.AddRange(predict(batch.InputIds, batch.AttentionMask).Select(i => labels[i]));
            return new TaskEvaluation(new ClassificationEvaluator(labels).Evaluate(predictions, references), null, predictions, references);
        }
        var generated = new BatchedGenerator(model, encoder.Tokenizer).Generate(rows.Select(r => r.Prompt).ToArray(),
            new BatchedGenerationOptions { MaxNewTokens = maxNewTokens, BatchSize = batchSize, StopTokenIds = new HashSet<int> { encoder.EosId } });
        var texts = generated.Select(g => g.Text.Trim()).ToArray();
        return new TaskEvaluation(null, new SummarizationEvaluator().Evaluate(texts, references), texts, references);
    }

    /// <summary>The model as a score-head classifier for a task with <paramref name="labels"/> (same classes, same order), or an
    /// error saying what does not fit.</summary>
    public static ISequenceClassifier ScoreHeadOf(CausalLanguageModel model, IReadOnlyList<string> labels)
    {
        var clf = model as ISequenceClassifier
            ?? throw new ArgumentException($"the task is answered by a score head but the model has none ({model.Config.Source} is a causal LM); fine-tune it with --head score");
        if (!clf.Labels.SequenceEqual(labels))
            throw new ArgumentException($"the score head's labels [{string.Join(", ", clf.Labels)}] ({model.Config.Source}, id2label) are not the task's [{string.Join(", ", labels)}]");
        return clf;
    }
}
