namespace BitDistill.Distill.Data;

/// <summary>How a classifier answers (<c>--head</c>): by label words — the causal LM's next token after the prompt, as the
/// BitDistill paper's code fine-tunes — or by a score head [num_labels, hidden] on the last real prompt token, as Hugging
/// Face's *ForSequenceClassification.</summary>
public enum ClassificationHead
{
    /// <summary>The label word's first token, scored by the LM head at the last prompt position ("label-words").</summary>
    LabelWords,
    /// <summary>A score head over the classes at the last real prompt token ("score").</summary>
    Score,
}
