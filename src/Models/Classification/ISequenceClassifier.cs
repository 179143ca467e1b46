using BitDistill.Autograd;
using BitDistill.Models.Layers;
using BitDistill.Tensors;

namespace BitDistill.Models.Classification;

/// <summary>A causal-LM-shaped model whose head is a score head over classes (Hugging Face's *ForSequenceClassification):
/// <see cref="CausalLanguageModel.Head"/> maps hidden states to class logits, and a row's prediction is read at its last
/// real token. The trainer, the objectives and the BitNet transformation treat it as any <see cref="CausalLanguageModel"/>
/// whose "vocabulary" is the classes.</summary>
public interface ISequenceClassifier
{
    /// <summary>Class names (id2label in id order).</summary>
    IReadOnlyList<string> Labels { get; }
    /// <summary>Number of classes.</summary>
    int NumLabels { get; }
    /// <summary>The score head [num_labels, hidden].</summary>
    Linear Score { get; }
    /// <summary>Class scores [B, num_labels] at each row's last real token (see <see cref="LastTokenPooling"/>).</summary>
    Variable Scores(Tensor inputIds, Tensor? attentionMask = null);
    /// <summary>The predicted class of each row (no gradients).</summary>
    int[] Predict(Tensor inputIds, Tensor? attentionMask = null);
}
