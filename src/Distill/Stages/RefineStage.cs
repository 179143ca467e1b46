using BitDistill.Models;
using BitDistill.Models.BitNet;

namespace BitDistill.Distill.Stages;

/// <summary>Stage 1, "modeling refinement": a ternary copy of the full-precision model (every Linear except the LM head
/// becomes BitLinear, SubLN inserted as <paramref name="settings"/> says). The input model is untouched.</summary>
public sealed class RefineStage(BitNetConfig settings) : IStage
{
    /// <inheritdoc/>
    public string Name => $"stage 1: refine (SubLN {settings.SubLn.ToString().ToLowerInvariant()})";

    /// <inheritdoc/>
    public StageResult Run(CausalLanguageModel model) => new(Refiner.Refine(model, settings));
}
