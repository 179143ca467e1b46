using BitDistill.Autograd;
using BitDistill.Models.Tokenization;
using BitDistill.Tensors;

namespace BitDistill.Models.Classification;

/// <summary>Classification by label words, as the BitDistill paper's code fine-tunes: the label is the next token the causal LM
/// predicts after the prompt. A class's score is the logit of its label's first token at the last real prompt position;
/// <see cref="Loss"/> is the SFT loss (full-vocabulary cross-entropy on the answer token) and <see cref="RestrictedLoss"/>
/// the cross-entropy over the label tokens only.</summary>
public sealed class LabelWordClassifier
{
    /// <summary>Classes given by their label token ids (class i ↔ <paramref name="labelTokenIds"/>[i]; distinct, inside the vocabulary).</summary>
    public LabelWordClassifier(CausalLanguageModel model, IReadOnlyList<int> labelTokenIds)
    {
        Model = model ?? throw new ArgumentNullException(nameof(model));
        if (labelTokenIds.Count < 2) throw new ArgumentException($"label words need at least two classes, got {labelTokenIds.Count}", nameof(labelTokenIds));
        for (int i = 0; i < labelTokenIds.Count; i++)
            if ((uint)labelTokenIds[i] >= (uint)model.Config.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(labelTokenIds), labelTokenIds[i], $"label token {labelTokenIds[i]} of class {i} is outside the vocabulary [0, {model.Config.VocabSize})");
        if (labelTokenIds.Distinct().Count() != labelTokenIds.Count)
            throw new ArgumentException($"label tokens must be distinct, got [{string.Join(", ", labelTokenIds)}] (two label words share their first token)", nameof(labelTokenIds));
        LabelTokenIds = labelTokenIds.ToArray();
        using (TensorScope.Suspend()) _labelIndex = Tensor.FromArray(LabelTokenIds.Select(x => (long)x).ToArray(), [LabelTokenIds.Count]);
    }

    /// <summary>Classes given by label words: each word's first token (encoded without special tokens, as it follows the prompt;
    /// include a leading space in the word if the prompt ends before one).</summary>
    public LabelWordClassifier(CausalLanguageModel model, TextTokenizer tokenizer, IReadOnlyList<string> labelWords)
        : this(model, FirstTokens(tokenizer, labelWords)) { LabelWords = labelWords.ToArray(); }

    private readonly Tensor _labelIndex;

    /// <summary>The language model.</summary>
    public CausalLanguageModel Model { get; }
    /// <summary>The token id standing for each class.</summary>
    public IReadOnlyList<int> LabelTokenIds { get; }
    /// <summary>The label words, when built from words.</summary>
    public IReadOnlyList<string>? LabelWords { get; }
    /// <summary>Number of classes.</summary>
    public int NumLabels => LabelTokenIds.Count;

    private static int[] FirstTokens(TextTokenizer tokenizer, IReadOnlyList<string> words) => words.Select(w =>
    {
        var ids = tokenizer.Encode(w);
        return ids.Length > 0 ? ids[0] : throw new ArgumentException($"label word \"{w}\" encodes to no tokens", nameof(words));
    }).ToArray();

    /// <summary>Next-token logits [B, vocab] at each row's last real position (see <see cref="LastTokenPooling"/>); only those
    /// positions go through the LM head.</summary>
    public Variable NextTokenLogits(Tensor inputIds, Tensor? attentionMask = null) =>
        Model.Head(LastTokenPooling.Pool(Model.Hidden(inputIds, attentionMask), attentionMask));

    /// <summary>Per-class scores [B, classes]: the logits of the label tokens at the last real position.</summary>
    public Variable Scores(Tensor inputIds, Tensor? attentionMask = null) => Restrict(NextTokenLogits(inputIds, attentionMask));

    /// <summary>The predicted class of each row (argmax of <see cref="Scores"/>, no gradients).</summary>
    public int[] Predict(Tensor inputIds, Tensor? attentionMask = null)
    {
        using var _ = GradMode.NoGrad();
        return LastTokenPooling.ArgMaxRows(Scores(inputIds, attentionMask).Value);
    }

    /// <summary>SFT loss: mean full-vocabulary cross-entropy of the next-token logits against each row's label token.</summary>
    public Variable Loss(Tensor inputIds, Tensor? attentionMask, IReadOnlyList<int> labels)
    {
        var logits = NextTokenLogits(inputIds, attentionMask);
        Check(labels, logits.Size(0));
        return F.CrossEntropy(logits, Tensor.FromArray(labels.Select(l => (long)LabelTokenIds[l]).ToArray(), [labels.Count], logits.Value.Device));
    }

    /// <summary>Mean cross-entropy over the label tokens only (softmax over the classes' scores).</summary>
    public Variable RestrictedLoss(Tensor inputIds, Tensor? attentionMask, IReadOnlyList<int> labels)
    {
        var scores = Scores(inputIds, attentionMask);
        Check(labels, scores.Size(0));
        return F.CrossEntropy(scores, LastTokenPooling.Targets(labels.Select(l => (long)l).ToArray(), NumLabels, scores.Value.Device));
    }

    /// <summary>Scores [B, classes] from next-token logits [B, vocab].</summary>
    public Variable Restrict(Variable nextTokenLogits) =>
        nextTokenLogits.IndexSelect(1, _labelIndex.Device == nextTokenLogits.Value.Device ? _labelIndex : _labelIndex.To(nextTokenLogits.Value.Device));

    private void Check(IReadOnlyList<int> labels, int batch)
    {
        if (labels.Count != batch) throw new ArgumentException($"{labels.Count} labels for {batch} rows", nameof(labels));
        for (int i = 0; i < labels.Count; i++)
            if ((uint)labels[i] >= (uint)NumLabels) throw new ArgumentOutOfRangeException(nameof(labels), labels[i], $"label {labels[i]} of row {i} is outside [0, {NumLabels})");
    }
}
