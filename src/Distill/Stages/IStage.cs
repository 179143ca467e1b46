using BitDistill.Models;

namespace BitDistill.Distill.Stages;

/// <summary>One stage of the recipe (refine, continued pre-training, distillation fine-tuning): takes a model, returns the
/// model the next stage starts from. Stages are composed by a <see cref="Recipes.Recipe"/>.</summary>
public interface IStage
{
    /// <summary>The stage's name for logs ("stage 1: refine").</summary>
    string Name { get; }

    /// <summary>Runs the stage on <paramref name="model"/>.</summary>
    StageResult Run(CausalLanguageModel model);
}
