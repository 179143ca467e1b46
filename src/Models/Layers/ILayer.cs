using BitDistill.Autograd;

namespace BitDistill.Models.Layers;

/// <summary>A layer y = f(x) on variables.</summary>
public interface ILayer
{
    /// <summary>Applies the layer.</summary>
    Variable Forward(Variable x);
}
