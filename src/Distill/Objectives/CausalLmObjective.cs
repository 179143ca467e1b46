using BitDistill.Autograd;
using BitDistill.Models;
using BitDistill.Tensors;

namespace BitDistill.Distill.Objectives;

/// <summary>The causal language-modelling objective (pre-training, stage 2's continued pre-training): mean next-token
/// cross-entropy, logits at t predicting labels at t + 1, −100 ignored, as Hugging Face's ForCausalLMLoss. When the model's
/// head is a plain linear map the head and the loss are fused (the [B·T, V] logits are never materialised).</summary>
public sealed class CausalLmObjective : ITrainingObjective
{
    /// <summary>The label value that is skipped.</summary>
    public const long IgnoreIndex = -100;

    /// <inheritdoc/>
    public string Name => "causal_lm";

    /// <inheritdoc/>
    public ObjectiveResult Compute(CausalLanguageModel model, TrainingBatch batch) =>
        new(TokenLoss(model, batch.InputIds, batch.Targets, batch.AttentionMask), new Dictionary<string, double>());

    /// <summary>The loss of ids [B, T]; without <paramref name="labels"/> the ids are the labels with padding (mask 0) ignored.</summary>
    public static Variable Loss(CausalLanguageModel model, Tensor inputIds, Tensor? attentionMask = null, Tensor? labels = null, ForwardCapture? capture = null)
    {
        var h = model.Hidden(inputIds, attentionMask, capture);
        var l = labels ?? LabelsFromIds(inputIds, attentionMask);
        int b = h.Size(0), t = h.Size(1);
        if (!model.HeadIsPlainLinear) return FromLogits(model.Head(h), l);
        if (l.Rank != 2 || l.Shape[0] != b || l.Shape[1] != t) throw new ArgumentException($"labels must be [{b}, {t}], got {Tensor.ShapeString(l.Shape)}");
        if (t < 2) throw new ArgumentException("the causal LM loss needs at least two positions");
        return F.LinearCrossEntropy(h.Reshape(b * t, h.Size(2)), model.OutputWeight, Tensor.FromArray(ShiftedTargets(l), [b * t], h.Value.Device), ignoreIndex: IgnoreIndex);
    }

    /// <summary>Mean cross-entropy of the logits at every position of ids [B, T] against targets [B, T] (−100 ignored; no
    /// shift: target t is the label of position t), fused with the head when it is a plain linear map.</summary>
    public static Variable TokenLoss(CausalLanguageModel model, Tensor inputIds, Tensor targets, Tensor? attentionMask = null)
    {
        var h = model.Hidden(inputIds, attentionMask);
        if (!model.HeadIsPlainLinear) { var logits = model.Head(h); return F.CrossEntropy(logits.Reshape(-1, logits.Size(-1)), targets.Reshape(-1)); }
        return F.LinearCrossEntropy(h.Reshape(-1, h.Size(-1)), model.OutputWeight, targets.Reshape(-1));
    }

    /// <summary>Mean cross-entropy of logits [B, T, V] at t against labels [B, T] at t+1 (−100 ignored).</summary>
    public static Variable FromLogits(Variable logits, Tensor labels)
    {
        int b = logits.Size(0), t = logits.Size(1), v = logits.Size(2);
        if (labels.Rank != 2 || labels.Shape[0] != b || labels.Shape[1] != t)
            throw new ArgumentException($"labels must be [{b}, {t}], got {Tensor.ShapeString(labels.Shape)}");
        if (t < 2) throw new ArgumentException("the causal LM loss needs at least two positions");
        var targets = ShiftedTargets(labels);
        return F.CrossEntropy(logits.Reshape(b * t, v), Tensor.FromArray(targets, [targets.Length], logits.Value.Device), ignoreIndex: IgnoreIndex);
    }

    // Row r·t + i of the flattened logits predicts label i + 1; the last position of each row has no label and is ignored.
    // Same loss as slicing logits[:, :-1] (same rows, same order), without copying the [B, T−1, V] slice.
    private static long[] ShiftedTargets(Tensor labels)
    {
        int b = labels.Shape[0], t = labels.Shape[1];
        var l = labels.To(DType.Int64).Contiguous().ToArray<long>();
        var targets = new long[b * t];
        for (int r = 0; r < b; r++)
        {
            Array.Copy(l, r * t + 1, targets, r * t, t - 1);
            targets[r * t + t - 1] = IgnoreIndex;
        }
        return targets;
    }

    /// <summary>ids as Int64 labels with −100 where the mask is 0.</summary>
    public static Tensor LabelsFromIds(Tensor inputIds, Tensor? attentionMask)
    {
        var ids = inputIds.To(DType.Int64).Contiguous().ToArray<long>();
        if (attentionMask is not null)
        {
            if (!attentionMask.Shape.SequenceEqual(inputIds.Shape)) throw new ArgumentException($"attention mask {Tensor.ShapeString(attentionMask.Shape)} does not match ids {Tensor.ShapeString(inputIds.Shape)}");
            var m = attentionMask.To(DType.Float32).Contiguous().ToArray<float>();
            for (int i = 0; i < ids.Length; i++) if (m[i] == 0) ids[i] = IgnoreIndex;
        }
        return Tensor.FromArray(ids, inputIds.ShapeArray);
    }
}
