using BitDistill.Autograd;
using BitDistill.Models.Layers;

namespace BitDistill.Models.BitNet;

/// <summary>BitNet b1.58 as a transformation of any <see cref="CausalLanguageModel"/>, in place: every <see cref="Linear"/>
/// except the LM head becomes a <see cref="BitLinear"/> with the same weights, and SubLN is inserted where the settings say —
/// at the hook points the architecture declares (the paper's placement: the inputs of o_proj and down_proj), before every
/// projection ("all": each BitLinear owns its norm), or nowhere. Embeddings and norms stay full precision; new SubLN weights
/// start at 1.</summary>
public static class BitNetTransform
{
    /// <summary>Transforms <paramref name="model"/> in place and returns it.</summary>
    public static CausalLanguageModel Apply(CausalLanguageModel model, BitNetConfig settings)
    {
        if (model.NamedModules().Any(m => m.Module is BitLinear)) throw new InvalidOperationException("the model already has BitLinear layers");
        var swaps = new List<(Module Parent, string Child, Linear Linear)>();
        foreach (var (name, parent) in model.NamedModules().ToArray())
            foreach (var (child, m) in parent.Children())
            {
                string full = name.Length == 0 ? child : name + "." + child;
                if (m.GetType() == typeof(Linear) && full != model.LmHeadName) swaps.Add((parent, child, (Linear)m));
            }
        foreach (var (parent, child, linear) in swaps)
        {
            var b = BitLinear.FromLinear(linear, settings.WeightScale, settings.GroupSize, settings.Calibration,
                settings.WeightQuant, settings.RequantEvery, settings.StatsDecay);
            if (settings.SubLn == SubLnPlacement.All) b.AddOwnedInputNorm((float)settings.SubLnEps);
            parent.ReplaceChild(child, b);
        }
        if (settings.SubLn == SubLnPlacement.Paper)
            foreach (var hook in model.SubLnHooks)
            {
                var target = hook.Parent.Children().FirstOrDefault(c => c.Name == hook.Projection).Module as BitLinear
                    ?? throw new InvalidOperationException($"SubLN hook '{hook.NormName}': '{hook.Projection}' is not a BitLinear");
                var norm = hook.Parent.InsertChild(hook.NormName, new RmsNorm(hook.Width, (float)settings.SubLnEps), before: hook.Projection);
                target.UseInputNorm(norm);
            }
        return model;
    }
}
