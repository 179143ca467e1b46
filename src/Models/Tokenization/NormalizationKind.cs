namespace BitDistill.Models.Tokenization;

/// <summary>The four Unicode normalization forms a tokenizer.json normalizer can ask for.</summary>
public enum NormalizationKind
{
    /// <summary>Canonical composition.</summary>
    Nfc,
    /// <summary>Canonical decomposition.</summary>
    Nfd,
    /// <summary>Compatibility composition.</summary>
    Nfkc,
    /// <summary>Compatibility decomposition.</summary>
    Nfkd,
}
