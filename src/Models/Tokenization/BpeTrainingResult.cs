using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using BitDistill.Tensors;

namespace BitDistill.Models.Tokenization;

/// <summary>A trained byte-level BPE vocabulary; writes Hugging Face tokenizer.json / tokenizer_config.json.</summary>
public sealed class BpeTrainingResult
{
    readonly string _splitPattern;

    /// <summary>Token string (byte-level characters) → id, without the special tokens.</summary>
    public IReadOnlyDictionary<string, int> Vocab { get; }

    /// <summary>The merges in rank order.</summary>
    public IReadOnlyList<(string Left, string Right)> Merges { get; }

    /// <summary>The special tokens, with ids after the vocabulary.</summary>
    public IReadOnlyList<AddedToken> SpecialTokens { get; }

    /// <summary>Total ids: vocabulary plus special tokens.</summary>
    public int VocabSize => Vocab.Count + SpecialTokens.Count;

    internal BpeTrainingResult(IReadOnlyDictionary<string, int> vocab, IReadOnlyList<(string, string)> merges, IReadOnlyList<AddedToken> specials, string splitPattern)
    {
        Vocab = vocab;
        Merges = merges;
        SpecialTokens = specials;
        _splitPattern = splitPattern;
    }

    static readonly JsonWriterOptions WriterOptions = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The tokenizer.json text (model BPE, byte-level pre-tokenizer/decoder, split regex, added tokens).</summary>
    public string ToTokenizerJson()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("version", "1.0");
            w.WriteNull("truncation");
            w.WriteNull("padding");
            w.WriteStartArray("added_tokens");
            foreach (var t in SpecialTokens) WriteAddedToken(w, t, withId: true);
            w.WriteEndArray();
            w.WriteNull("normalizer");
            w.WriteStartObject("pre_tokenizer");
            w.WriteString("type", "Sequence");
            w.WriteStartArray("pretokenizers");
            w.WriteStartObject();
            w.WriteString("type", "Split");
            w.WriteStartObject("pattern");
            w.WriteString("Regex", _splitPattern);
            w.WriteEndObject();
            w.WriteString("behavior", "Isolated");
            w.WriteBoolean("invert", false);
            w.WriteEndObject();
            WriteByteLevel(w, null);
            w.WriteEndArray();
            w.WriteEndObject();
            WriteByteLevel(w, "post_processor");
            WriteByteLevel(w, "decoder");
            w.WriteStartObject("model");
            w.WriteString("type", "BPE");
            w.WriteNull("dropout");
            w.WriteNull("unk_token");
            w.WriteString("continuing_subword_prefix", "");
            w.WriteString("end_of_word_suffix", "");
            w.WriteBoolean("fuse_unk", false);
            w.WriteBoolean("byte_fallback", false);
            w.WriteBoolean("ignore_merges", false);
            w.WriteStartObject("vocab");
            foreach (var (tok, id) in Vocab.OrderBy(kv => kv.Value)) w.WriteNumber(tok, id);
            w.WriteEndObject();
            w.WriteStartArray("merges");
            foreach (var (l, r) in Merges)
            {
                w.WriteStartArray();
                w.WriteStringValue(l);
                w.WriteStringValue(r);
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <summary>The tokenizer_config.json text: EOS and PAD are the first special token, no BOS.</summary>
    public string ToTokenizerConfigJson()
    {
        string? first = SpecialTokens.Count > 0 ? SpecialTokens[0].Content : null;
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("tokenizer_class", "PreTrainedTokenizerFast");
            w.WriteBoolean("add_bos_token", false);
            w.WriteBoolean("add_prefix_space", false);
            w.WriteNull("bos_token");
            if (first is null) w.WriteNull("eos_token"); else w.WriteString("eos_token", first);
            if (first is null) w.WriteNull("pad_token"); else w.WriteString("pad_token", first);
            w.WriteNull("unk_token");
            w.WriteBoolean("clean_up_tokenization_spaces", false);
            w.WriteStartObject("added_tokens_decoder");
            foreach (var t in SpecialTokens)
            {
                w.WritePropertyName(t.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
                WriteAddedToken(w, t, withId: false);
            }
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <summary>The trained tokenizer, as <see cref="TextTokenizer.Load"/> would read it back.</summary>
    public TextTokenizer ToTokenizer() => TextTokenizer.FromJson(ToTokenizerJson(), ToTokenizerConfigJson(), "(trained tokenizer.json)", "(trained tokenizer_config.json)");

    /// <summary>Writes DIR/tokenizer.json and DIR/tokenizer_config.json, each to a temporary name first and then renamed.</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        WriteAtomically(Path.Combine(directory, "tokenizer_config.json"), ToTokenizerConfigJson());
        WriteAtomically(Path.Combine(directory, "tokenizer.json"), ToTokenizerJson());
    }

    static void WriteAtomically(string path, string content) => AtomicFile.WriteAllText(path, content);

    static void WriteAddedToken(Utf8JsonWriter w, AddedToken t, bool withId)
    {
        w.WriteStartObject();
        if (withId) w.WriteNumber("id", t.Id);
        w.WriteString("content", t.Content);
        w.WriteBoolean("single_word", t.SingleWord);
        w.WriteBoolean("lstrip", t.LStrip);
        w.WriteBoolean("rstrip", t.RStrip);
        w.WriteBoolean("normalized", t.Normalized);
        w.WriteBoolean("special", t.Special);
        w.WriteEndObject();
    }

    static void WriteByteLevel(Utf8JsonWriter w, string? name)
    {
        if (name is null) w.WriteStartObject(); else w.WriteStartObject(name);
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", false);
        w.WriteBoolean("use_regex", false);
        w.WriteEndObject();
    }
}
