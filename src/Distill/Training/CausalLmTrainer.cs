using BitDistill.Autograd;
using BitDistill.Distill.Data;
using BitDistill.Distill.Evaluation;
using BitDistill.Distill.Objectives;
using BitDistill.Models;

namespace BitDistill.Distill.Training;

/// <summary>Causal-LM training (pre-training, stage 2) on a token corpus: <see cref="Trainer"/> with <see cref="CorpusBatches"/>
/// and validation perplexity; and the parameter groups every stage uses.</summary>
public static class CausalLmTrainer
{
    /// <summary>Parameter groups: weight decay on matrices only.</summary>
    public static ParamGroup[] DecayGroups(Module model, float weightDecay)
    {
        var ps = model.NamedParameters().ToArray();
        static bool NoDecay(string n) => n.Contains("norm", StringComparison.Ordinal) || n.EndsWith(".bias", StringComparison.Ordinal) || n.Contains("embed_tokens", StringComparison.Ordinal);
        var seen = new HashSet<Variable>(ReferenceEqualityComparer.Instance);
        var decay = ps.Where(p => !NoDecay(p.Name) && seen.Add(p.Param)).Select(p => p.Param).ToArray();
        var rest = ps.Where(p => NoDecay(p.Name) && seen.Add(p.Param)).Select(p => p.Param).ToArray();
        return [new ParamGroup(decay, WeightDecay: weightDecay), new ParamGroup(rest, WeightDecay: 0f)];
    }

    /// <summary>Runs (or resumes) causal-LM training (random windows of <paramref name="train"/>) for
    /// <see cref="TrainingOptions.Steps"/> optimizer steps with <see cref="Trainer"/>, validating perplexity on <paramref name="valid"/>.</summary>
    public static TrainingHistory Train(CausalLanguageModel model, TokenDataset train, TokenDataset? valid, TrainingOptions o, ITrainingObjective? objective = null) =>
        Trainer.Train(model, new CorpusBatches(train, o.BatchSize, o.SeqLen, o.Seed), objective ?? new CausalLmObjective(), o,
            valid is null ? null : m => new ValidationResult("perplexity", Perplexity.Compute(m, valid, new PerplexityProtocol(o.SeqLen, o.EvalWindows)), HigherIsBetter: false));
}
