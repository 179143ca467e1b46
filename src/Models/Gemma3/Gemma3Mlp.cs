using BitDistill.Autograd;
using BitDistill.Models.Layers;
using BitDistill.Tensors;

namespace BitDistill.Models.Gemma3;

/// <summary>Gated GELU MLP: down_proj(gelu_tanh(gate_proj(x)) · up_proj(x)).</summary>
public sealed class Gemma3Mlp : Module
{
    private readonly bool _tanh;

    /// <summary>Builds the projections; weights from <paramref name="gen"/> (N(0, initializer_range)) or zeros.</summary>
    public Gemma3Mlp(Gemma3Config config, Generator? gen = null)
    {
        int e = config.HiddenSize, i = config.IntermediateSize; float std = (float)config.InitializerRange;
        _tanh = config.TanhGelu;
        GateProj = Child("gate_proj", new Linear(e, i, false, gen, std));
        UpProj = Child("up_proj", new Linear(e, i, false, gen, std));
        DownProj = Child("down_proj", new Linear(i, e, false, gen, std));
    }

    /// <summary>gate_proj: hidden → intermediate.</summary>
    public ILayer GateProj { get; private set; }
    /// <summary>up_proj: hidden → intermediate.</summary>
    public ILayer UpProj { get; private set; }
    /// <summary>down_proj: intermediate → hidden.</summary>
    public ILayer DownProj { get; private set; }

    /// <summary>[..., hidden] → [..., hidden].</summary>
    public Variable Forward(Variable x)
    {
        var g = GateProj.Forward(x);
        return DownProj.Forward((_tanh ? g.GeluTanh() : g.Gelu()) * UpProj.Forward(x));
    }

    /// <inheritdoc/>
    protected override void OnChildReplaced(string name, Module module)
    {
        var layer = module as ILayer ?? throw new ArgumentException($"mlp.{name} must implement ILayer, got {module.GetType().Name}");
        switch (name)
        {
            case "gate_proj": GateProj = layer; break;
            case "up_proj": UpProj = layer; break;
            case "down_proj": DownProj = layer; break;
            default: base.OnChildReplaced(name, module); break;
        }
    }
}
