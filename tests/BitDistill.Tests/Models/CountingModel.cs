using BitDistill.Autograd;
using BitDistill.Models;
using BitDistill.Models.Layers;
using BitDistill.Tensors;

namespace BitDistill.Tests.Models;

/// <summary>A model of the contract that forwards to another and records the [batch, time] shape of every forward pass.</summary>
public sealed class CountingModel(CausalLanguageModel inner) : CausalLanguageModel
{
    /// <summary>The input shape of each <see cref="Hidden"/> call, in order.</summary>
    public List<(int Batch, int Time)> Calls { get; } = new();

    /// <inheritdoc/>
    public override IModelConfig Config => inner.Config;
    /// <inheritdoc/>
    public override Variable OutputWeight => inner.OutputWeight;
    /// <inheritdoc/>
    public override bool HeadIsPlainLinear => inner.HeadIsPlainLinear;
    /// <inheritdoc/>
    public override IReadOnlyList<SubLnHook> SubLnHooks => inner.SubLnHooks;
    /// <inheritdoc/>
    public override KvCache CreateCache(int capacity = 0) => inner.CreateCache(capacity);
    /// <inheritdoc/>
    public override Variable Head(Variable hidden) => inner.Head(hidden);

    /// <inheritdoc/>
    public override Variable Hidden(Tensor inputIds, Tensor? attentionMask = null, ForwardCapture? capture = null, KvCache? cache = null)
    {
        Calls.Add((inputIds.Shape[0], inputIds.Shape[1]));
        return inner.Hidden(inputIds, attentionMask, capture, cache);
    }
}
