using System.Text;
using BitDistill.Models.Tokenization;

namespace BitDistill.Models.Generation;

/// <summary>Turns a stream of token ids into text piece by piece: a UTF-8 character whose bytes are split across tokens is held
/// back until its last byte arrives, so each piece is printable as soon as it is returned (as Hugging Face's TextStreamer).
/// An id the tokenizer does not assign (a model's vocabulary may be larger than its tokenizer's) reads "&lt;unk:ID&gt;" rather
/// than vanishing.</summary>
public sealed class IncrementalDecoder(TextTokenizer tokenizer, bool skipSpecialTokens = true)
{
    private readonly Decoder _utf8 = new UTF8Encoding(false, false).GetDecoder();
    private readonly List<byte> _bytes = new();
    private char[] _chars = new char[64];

    /// <summary>Adds one token and returns the text it completes (possibly empty).</summary>
    public string Push(int id)
    {
        _bytes.Clear();
        tokenizer.AppendBytes(id, _bytes, skipSpecialTokens, showUnassigned: true);
        return Convert(flush: false);
    }

    /// <summary>Returns what is still held back (an incomplete character becomes U+FFFD) and resets.</summary>
    public string Flush()
    {
        _bytes.Clear();
        return Convert(flush: true);
    }

    private string Convert(bool flush)
    {
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_bytes);
        int need = _utf8.GetCharCount(span, flush);
        if (need > _chars.Length) _chars = new char[Math.Max(need, 2 * _chars.Length)];
        int n = _utf8.GetChars(span, _chars, flush);
        return n == 0 ? "" : new string(_chars, 0, n);
    }
}
