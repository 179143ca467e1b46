namespace BitDistill.Models.Tokenization;

/// <summary>A token matched as a whole in the input before BPE (tokenizer.json "added_tokens"), e.g. &lt;|im_start|&gt;.</summary>
/// <param name="Id">The token id.</param>
/// <param name="Content">The exact text that is matched.</param>
/// <param name="Special">Whether decode skips it when asked to skip special tokens.</param>
/// <param name="SingleWord">Only match when not inside a word.</param>
/// <param name="LStrip">Also swallow whitespace on the left.</param>
/// <param name="RStrip">Also swallow whitespace on the right.</param>
/// <param name="Normalized">Match on the normalized text rather than the raw text.</param>
public sealed record AddedToken(int Id, string Content, bool Special, bool SingleWord = false, bool LStrip = false, bool RStrip = false, bool Normalized = false);
