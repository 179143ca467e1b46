
namespace BitDistill.Models.BitNet;

/// <summary>Stage 1 of BitDistill ("modeling refinement"): copy a full-precision model, insert SubLN, and replace every
/// Linear except lm_head by BitLinear. Embeddings and norms stay full precision; the new SubLN weights start at 1.</summary>
public static class Refiner
{
    /// <summary>A ternary copy of <paramref name="fp"/> (the original is untouched): a fresh model of the same architecture
    /// with <see cref="BitNetTransform"/> applied, loaded with fp's weights. Its config carries the "bitnet" field, so
    /// SavePretrained/FromPretrained round-trip the structure.</summary>
    public static TModel Refine<TModel>(TModel fp, BitNetConfig settings) where TModel : CausalLanguageModel => (TModel)Refine((CausalLanguageModel)fp, settings);

    /// <summary>A ternary copy of <paramref name="fp"/> (see the generic overload).</summary>
    public static CausalLanguageModel Refine(CausalLanguageModel fp, BitNetConfig settings)
    {
        if (BitNetConfig.From(fp.Config) is not null) throw new InvalidOperationException("the model is already ternary (its config has a 'bitnet' field)");
        var config = settings.ApplyTo(fp.Config);
        var student = ModelRegistry.Create(config);
        var state = fp.StateDict();
        var expected = student.StateDict();
        var missing = expected.Keys.Where(k => !state.ContainsKey(k)).ToArray();
        // new SubLN weights and the GPTQ/AWQ training quantisers' statistics (buffers qat_*) start fresh
        var notNorms = missing.Where(k => !k.EndsWith("sub_norm.weight", StringComparison.Ordinal) && !k.Contains(".qat_", StringComparison.Ordinal)).ToArray();
        if (notNorms.Length > 0) throw new InvalidOperationException($"refine: the full-precision model lacks {string.Join(", ", notNorms.Take(5))}");
        student.LoadStateDict(state, strict: false, source: "refine");
        var unexpected = state.Keys.Where(k => !expected.ContainsKey(k)).ToArray();
        if (unexpected.Length > 0) throw new InvalidOperationException($"refine: tensors {string.Join(", ", unexpected.Take(5))} have no place in the refined model");
        return student;
    }

    /// <summary>All BitLinear layers of a model with their dotted names.</summary>
    public static IEnumerable<(string Name, BitLinear Layer)> BitLinears(Autograd.Module model) =>
        model.NamedModules().Where(m => m.Module is BitLinear).Select(m => (m.Name, (BitLinear)m.Module));

    /// <summary>Tells every BitLinear that an optimizer step was applied (GPTQ-/AWQ-style training quantisers re-solve on schedule).</summary>
    public static void AfterOptimizerStep(Autograd.Module model)
    {
        foreach (var (_, l) in BitLinears(model)) l.AfterOptimizerStep();
    }

    /// <summary>Tells every BitLinear that a fresh training run (not a resumed one) begins: GPTQ-/AWQ-style training
    /// quantisers drop the previous run's statistics and solve on this run's first batch.</summary>
    public static void BeginTrainingRun(Autograd.Module model)
    {
        foreach (var (_, l) in BitLinears(model)) l.RestartTrainingQuantizer();
    }

    /// <summary>Sets the quantisation warm-up factor λ on every BitLinear.</summary>
    public static void SetQuantizationStrength(Autograd.Module model, float lambda)
    {
        if (!(lambda >= 0 && lambda <= 1)) throw new ArgumentOutOfRangeException(nameof(lambda), lambda, "λ must be in [0, 1]");
        foreach (var (_, l) in BitLinears(model)) l.QuantizationStrength = lambda;
    }

    /// <summary>λ for step s of a warm-up that rises linearly from 0 to 1 over <paramref name="warmupSteps"/> steps.</summary>
    public static float WarmupLambda(long step, long warmupSteps) => warmupSteps <= 0 ? 1f : (float)Math.Min(1.0, (double)step / warmupSteps);
}
