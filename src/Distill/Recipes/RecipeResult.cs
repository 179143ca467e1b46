using BitDistill.Distill.Training;
using BitDistill.Models;

namespace BitDistill.Distill.Recipes;

/// <summary>What a recipe run produced: the model (the best validation one), the training histories and the flip rates.</summary>
public sealed record RecipeResult(CausalLanguageModel Model, TrainingHistory? Stage2, TrainingHistory Task, IReadOnlyList<FlipRateTracker> FlipRates);
