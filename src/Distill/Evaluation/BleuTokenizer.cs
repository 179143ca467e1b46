namespace BitDistill.Distill.Evaluation;

/// <summary>How sacreBLEU splits a segment into tokens before counting n-grams.</summary>
public enum BleuTokenizer
{
    /// <summary>mteval-v13a's tokenisation (sacreBLEU's default "13a"): punctuation and symbols split off, periods and commas
    /// kept inside numbers, a dash split off after a digit.</summary>
    Mteval13a,
    /// <summary>No tokenisation ("none"): the text is split on whitespace as it is.</summary>
    None,
}
