using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace BitDistill.Models.Tokenization;

/// <summary>A BPE tokenizer with Hugging Face tokenizers semantics (tokenizer.json or GPT-2 vocab.json + merges.txt): byte-level
/// (GPT-2, Qwen) or SentencePiece style (Gemma: "▁" for spaces, byte fallback).</summary>
/// <remarks>Pipeline of <see cref="Encode"/>: added tokens are cut out of the raw text first (leftmost-longest), each remaining piece is
/// normalized (e.g. NFC, or " " → "▁"), split by the pre-tokenizer, mapped to initial symbols (bytes, or characters with byte
/// fallback) and merged by BPE rank. Instances are thread-safe.</remarks>
public sealed class TextTokenizer
{
    readonly BpeModel _model;
    readonly Func<string, string> _normalizer;
    readonly PreTokenizer _preTokenizer;
    readonly AddedTokenMatcher _rawMatcher;
    readonly AddedTokenMatcher _normalizedMatcher;
    readonly AddedTokenMatcher _rawPlainMatcher; // without the special tokens: for untrusted text
    readonly AddedTokenMatcher _normalizedPlainMatcher;
    readonly Dictionary<int, AddedToken> _addedById;
    readonly Dictionary<string, AddedToken> _addedByContent;
    readonly string?[] _idToToken;
    readonly PostProcessor _postProcessor;
    readonly PieceDecoder? _pieceDecoder; // SentencePiece style; null for byte-level

    /// <summary>The file the tokenizer was read from (for messages).</summary>
    public string Source { get; }

    /// <summary>Number of ids: one more than the largest id in the vocabulary or the added tokens (151,669 for Qwen3).</summary>
    public int VocabSize => _idToToken.Length;

    /// <summary>Number of BPE merges.</summary>
    public int MergeCount => _model.MergeCount;

    // The BPE model (tests compare its cut and uncut merging).
    internal BpeModel Model => _model;

    /// <summary>The added tokens (special and not), in id order.</summary>
    public IReadOnlyList<AddedToken> AddedTokens { get; }

    /// <summary>The beginning-of-sequence token from tokenizer_config.json, or null.</summary>
    public string? BosToken { get; }

    /// <summary>The end-of-sequence token from tokenizer_config.json ("&lt;|im_end|&gt;" for Qwen3), else "&lt;|endoftext|&gt;" when present, else null.</summary>
    public string? EosToken { get; }

    /// <summary>The padding token from tokenizer_config.json, or null.</summary>
    public string? PadToken { get; }

    /// <summary>Id of <see cref="BosToken"/>, or null.</summary>
    public int? BosId => BosToken is null ? null : TokenToId(BosToken);

    /// <summary>Id of <see cref="EosToken"/>, or null.</summary>
    public int? EosId => EosToken is null ? null : TokenToId(EosToken);

    /// <summary>Id of <see cref="PadToken"/>, or null.</summary>
    public int? PadId => PadToken is null ? null : TokenToId(PadToken);

    /// <summary>Whether this is a SentencePiece-style BPE (characters with byte fallback) rather than byte-level.</summary>
    public bool IsSentencePieceStyle => _pieceDecoder is not null;

    TextTokenizer(string source, BpeModel model, Func<string, string> normalizer, PreTokenizer preTokenizer,
        IEnumerable<AddedToken> added, PostProcessor postProcessor, string? bos, string? eos, string? pad, PieceDecoder? pieceDecoder = null)
    {
        Source = source;
        _pieceDecoder = pieceDecoder;
        _model = model;
        _normalizer = normalizer;
        _preTokenizer = preTokenizer;
        var addedList = added.GroupBy(t => t.Id).Select(g => g.Last()).OrderBy(t => t.Id).ToList();
        AddedTokens = addedList;
        _addedById = addedList.ToDictionary(t => t.Id);
        _addedByContent = new Dictionary<string, AddedToken>(StringComparer.Ordinal);
        foreach (var t in addedList) _addedByContent[t.Content] = t;
        _rawMatcher = new AddedTokenMatcher(addedList.Where(t => !t.Normalized));
        _normalizedMatcher = new AddedTokenMatcher(addedList.Where(t => t.Normalized), normalizer);
        _rawPlainMatcher = new AddedTokenMatcher(addedList.Where(t => !t.Normalized && !t.Special));
        _normalizedPlainMatcher = new AddedTokenMatcher(addedList.Where(t => t.Normalized && !t.Special), normalizer);

        int size = 0;
        foreach (var id in model.Vocab.Values) size = Math.Max(size, id + 1);
        foreach (var t in addedList) size = Math.Max(size, t.Id + 1);
        _idToToken = new string?[size];
        foreach (var (tok, id) in model.Vocab) _idToToken[id] = tok;
        foreach (var t in addedList) _idToToken[t.Id] = t.Content;

        _postProcessor = postProcessor.Resolve(TokenToId);
        BosToken = bos;
        EosToken = eos ?? (_addedByContent.ContainsKey("<|endoftext|>") ? "<|endoftext|>" : null);
        PadToken = pad;
        foreach (var (field, tok) in new[] { ("bos_token", BosToken), ("eos_token", EosToken), ("pad_token", PadToken) })
            if (tok is not null && TokenToId(tok) is null)
                throw new TokenizerFormatException(source, field, $"token \"{tok}\" is neither in the vocabulary nor an added token");
    }

    /// <summary>Id of a token string (an added token's content or a vocabulary entry in byte-level characters), or null when unknown.</summary>
    public int? TokenToId(string token)
    {
        if (_addedByContent.TryGetValue(token, out var t)) return t.Id;
        return _model.Vocab.TryGetValue(token, out int id) ? id : null;
    }

    /// <summary>The token string of an id (byte-level characters for vocabulary entries), or null when the id is not assigned.</summary>
    public string? IdToToken(int id) => id >= 0 && id < _idToToken.Length ? _idToToken[id] : null;

    /// <summary>Whether the id is an added token marked special (skipped by <see cref="Decode"/> on request).</summary>
    public bool IsSpecial(int id) => _addedById.TryGetValue(id, out var t) && t.Special;

    /// <summary>Encodes text to ids; with <paramref name="addSpecialTokens"/> the post-processor's template (e.g. a BOS) is applied (Qwen3 adds none).
    /// With <paramref name="parseSpecialTokens"/> (the default, as Hugging Face's <c>encode</c>) the text of a special token such as
    /// "&lt;|im_end|&gt;" becomes its id; without it (Hugging Face's <c>split_special_tokens</c>, for untrusted text) it is
    /// tokenized as ordinary text. Added tokens that are not special are matched either way.</summary>
    public int[] Encode(string text, bool addSpecialTokens = false, bool parseSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        try { return EncodeCore(text, addSpecialTokens, parseSpecialTokens); }
        catch (RegexMatchTimeoutException e)
        {
            throw new TokenizerFormatException(Source, "pre_tokenizer", $"the pattern {e.Pattern} took longer than {PatternTimeout.TotalSeconds:0} s on one piece of text (catastrophic backtracking?); fix or remove it", e);
        }
    }

    /// <summary>The longest one match of a pattern read from a tokenizer file may take: a hostile or broken pattern fails
    /// with a message instead of hanging.</summary>
    public static readonly TimeSpan PatternTimeout = TimeSpan.FromSeconds(2);

    private int[] EncodeCore(string text, bool addSpecialTokens, bool parseSpecialTokens)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        var words = new List<string>();
        var (raw, normalizedMatcher) = parseSpecialTokens ? (_rawMatcher, _normalizedMatcher) : (_rawPlainMatcher, _normalizedPlainMatcher);
        foreach (var seg in raw.IsEmpty ? [new AddedTokenMatcher.Segment(0, text.Length, -1)] : raw.Split(text))
        {
            if (seg.TokenId >= 0) { ids.Add(seg.TokenId); continue; }
            string normalized = _normalizer(text.Substring(seg.Start, seg.Length));
            if (normalizedMatcher.IsEmpty) { EncodePlain(normalized, ids, words); continue; }
            foreach (var seg2 in normalizedMatcher.Split(normalized))
            {
                if (seg2.TokenId >= 0) ids.Add(seg2.TokenId);
                else EncodePlain(normalized.Substring(seg2.Start, seg2.Length), ids, words);
            }
        }
        return addSpecialTokens ? _postProcessor.Apply(ids) : ids.ToArray();
    }

    void EncodePlain(string text, List<int> ids, List<string> words)
    {
        if (text.Length == 0) return;
        words.Clear();
        _preTokenizer.Split(text, words);
        foreach (var w in words) _model.EncodeWord(w, ids);
    }

    /// <summary>Decodes ids to text (invalid UTF-8 becomes U+FFFD); ids that are not assigned are skipped, as Hugging Face does,
    /// unless <paramref name="showUnassigned"/> asks for them to appear as "&lt;unk:ID&gt;" (see <see cref="UnassignedText"/>).</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false, bool showUnassigned = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new List<byte>();
        foreach (int id in ids) AppendBytes(id, bytes, skipSpecialTokens, showUnassigned);
        string text = Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes));
        return _pieceDecoder is null ? text : _pieceDecoder.Strip(text);
    }

    /// <summary>How an id the tokenizer does not assign reads when shown: a model's embedding is often larger than its
    /// tokenizer (Qwen3 pads 151,669 tokens to 151,936 rows), and text generated from such an id must not vanish silently.</summary>
    public static string UnassignedText(int id) => $"<unk:{id}>";

    /// <summary>Appends the UTF-8 bytes one id stands for (nothing for an unassigned id unless <paramref name="showUnassigned"/>,
    /// nothing for a special token when skipped); a token may end inside a multi-byte character, which is why streaming
    /// decoders work on bytes.</summary>
    public void AppendBytes(int id, List<byte> bytes, bool skipSpecialTokens = false, bool showUnassigned = false)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        string? token;
        if (_addedById.TryGetValue(id, out var added))
        {
            if (skipSpecialTokens && added.Special) return;
            token = added.Content;
        }
        else token = IdToToken(id);
        if (token is null)
        {
            if (showUnassigned) bytes.AddRange(Encoding.UTF8.GetBytes(UnassignedText(id)));
            return;
        }
        if (_pieceDecoder is not null) _pieceDecoder.AppendBytes(token, bytes);
        else ByteLevel.AppendBytes(token, bytes);
    }

    // ------------------------------------------------------------------ loading

    /// <summary>Loads a tokenizer.json file (or tokenizer.json.gz), or a folder holding tokenizer.json or tokenizer.json.gz (or GPT-2's vocab.json + merges.txt / encoder.json + vocab.bpe); a tokenizer_config.json beside it supplies BOS/EOS/PAD.</summary>
    /// <exception cref="FileNotFoundException">No tokenizer file at the path.</exception>
    /// <exception cref="TokenizerFormatException">The file is malformed or describes an unsupported tokenizer.</exception>
    public static TextTokenizer Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string? dir;
        string file;
        if (Directory.Exists(path))
        {
            dir = path;
            file = Path.Combine(path, "tokenizer.json");
            if (!File.Exists(file) && File.Exists(file + ".gz")) file += ".gz";
            if (!File.Exists(file))
            {
                foreach (var (v, m) in new[] { ("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe") })
                    if (File.Exists(Path.Combine(path, v)) && File.Exists(Path.Combine(path, m)))
                        return LoadGpt2(Path.Combine(path, v), Path.Combine(path, m));
                throw new FileNotFoundException($"{file}: not found (the folder holds no tokenizer.json, vocab.json + merges.txt or encoder.json + vocab.bpe)", file);
            }
        }
        else
        {
            file = path;
            if (!File.Exists(file)) throw new FileNotFoundException($"{file}: tokenizer file not found", file);
            dir = Path.GetDirectoryName(Path.GetFullPath(file));
        }
        string? configFile = dir is null ? null : Path.Combine(dir, "tokenizer_config.json");
        string? config = configFile is not null && File.Exists(configFile) ? File.ReadAllText(configFile) : null;
        return FromJson(ReadText(file), config, file, configFile ?? "tokenizer_config.json");
    }

    // A ".gz" tokenizer.json is read through gzip: Gemma's is 33 MB unpacked, 5 MB packed.
    static string ReadText(string file)
    {
        if (!file.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)) return File.ReadAllText(file);
        try
        {
            using var gz = new System.IO.Compression.GZipStream(File.OpenRead(file), System.IO.Compression.CompressionMode.Decompress);
            using var reader = new StreamReader(gz, Encoding.UTF8);
            return reader.ReadToEnd();
        }
        catch (InvalidDataException e)
        {
            throw new TokenizerFormatException(file, null, $"not a valid gzip file ({e.Message})", e);
        }
    }

    /// <summary>Loads a GPT-2-style vocabulary: vocab.json (or encoder.json) and merges.txt (or vocab.bpe); byte-level, GPT-2 split regex, no normalizer.</summary>
    public static TextTokenizer LoadGpt2(string vocabJsonPath, string mergesPath)
    {
        foreach (var f in new[] { vocabJsonPath, mergesPath })
            if (!File.Exists(f)) throw new FileNotFoundException($"{f}: tokenizer file not found", f);
        using var doc = ParseJson(File.ReadAllText(vocabJsonPath), vocabJsonPath);
        var vocab = ReadVocab(doc.RootElement, vocabJsonPath, "(root)");
        var merges = new List<(string, string)>();
        int lineNo = 0;
        foreach (var line in File.ReadLines(mergesPath))
        {
            lineNo++;
            if (line.StartsWith("#version", StringComparison.Ordinal) || line.Length == 0) continue;
            var parts = line.Split(' ');
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                throw new TokenizerFormatException(mergesPath, $"line {lineNo}", $"expected two tokens separated by one space, got \"{line}\"");
            merges.Add((parts[0], parts[1]));
        }
        var model = new BpeModel(vocab, merges, mergesPath, null, false);
        var added = new List<AddedToken>();
        if (vocab.TryGetValue("<|endoftext|>", out int eot)) added.Add(new AddedToken(eot, "<|endoftext|>", true));
        var pre = new PreTokenizer([new ByteLevelStep(false, true)]);
        string? dir = Path.GetDirectoryName(Path.GetFullPath(vocabJsonPath));
        string? configFile = dir is null ? null : Path.Combine(dir, "tokenizer_config.json");
        var cfg = configFile is not null && File.Exists(configFile) ? ReadConfig(File.ReadAllText(configFile), configFile) : null;
        string? defaultSpecial = added.Count > 0 ? "<|endoftext|>" : null;
        return new TextTokenizer(vocabJsonPath, model, s => s, pre, added.Concat(cfg?.Added ?? []), PostProcessor.FromConfig(cfg, null),
            cfg is null ? defaultSpecial : cfg.Bos, cfg is null ? defaultSpecial : cfg.Eos, cfg?.Pad);
    }

    /// <summary>Builds a tokenizer from the text of a tokenizer.json (and optionally a tokenizer_config.json); <paramref name="source"/> names it in errors.</summary>
    public static TextTokenizer FromJson(string tokenizerJson, string? tokenizerConfigJson = null, string source = "tokenizer.json", string configSource = "tokenizer_config.json")
    {
        using var doc = ParseJson(tokenizerJson, source);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new TokenizerFormatException(source, "(root)", $"expected a JSON object, got {root.ValueKind}");

        var modelEl = Required(root, "model", source, "model", JsonValueKind.Object);
        string type = modelEl.TryGetProperty("type", out var typeEl) && typeEl.ValueKind == JsonValueKind.String ? typeEl.GetString()! :
            modelEl.TryGetProperty("merges", out _) ? "BPE" : "(missing)";
        if (type != "BPE")
            throw new TokenizerFormatException(source, "model.type", $"model type \"{type}\" is not supported (only BPE is: byte-level or SentencePiece style)");
        bool byteFallback = modelEl.TryGetProperty("byte_fallback", out var bf) && bf.ValueKind == JsonValueKind.True;
        bool fuseUnk = modelEl.TryGetProperty("fuse_unk", out var fu) && fu.ValueKind == JsonValueKind.True;
        foreach (var f in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (modelEl.TryGetProperty(f, out var v) && v.ValueKind == JsonValueKind.String && v.GetString()!.Length > 0)
                throw new TokenizerFormatException(source, "model." + f, "subword prefixes/suffixes are not supported");
        if (modelEl.TryGetProperty("dropout", out var dr) && dr.ValueKind == JsonValueKind.Number && dr.GetDouble() > 0)
            throw new TokenizerFormatException(source, "model.dropout", "BPE dropout is not supported (encoding must be deterministic)");

        var vocab = ReadVocab(Required(modelEl, "vocab", source, "model.vocab", JsonValueKind.Object), source, "model.vocab");
        var mergesEl = Required(modelEl, "merges", source, "model.merges", JsonValueKind.Array);
        var merges = new List<(string, string)>(mergesEl.GetArrayLength());
        int i = 0;
        foreach (var m in mergesEl.EnumerateArray())
        {
            string field = $"model.merges[{i++}]";
            if (m.ValueKind == JsonValueKind.String)
            {
                var parts = m.GetString()!.Split(' ');
                if (parts.Length != 2) throw new TokenizerFormatException(source, field, $"expected \"left right\", got \"{m.GetString()}\"");
                merges.Add((parts[0], parts[1]));
            }
            else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2 && m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String)
                merges.Add((m[0].GetString()!, m[1].GetString()!));
            else throw new TokenizerFormatException(source, field, "expected a string \"left right\" or a pair of strings");
        }
        string? unk = modelEl.TryGetProperty("unk_token", out var unkEl) && unkEl.ValueKind == JsonValueKind.String ? unkEl.GetString() : null;
        bool ignoreMerges = modelEl.TryGetProperty("ignore_merges", out var im) && im.ValueKind == JsonValueKind.True;

        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens", out var addedEl) && addedEl.ValueKind != JsonValueKind.Null)
        {
            if (addedEl.ValueKind != JsonValueKind.Array) throw new TokenizerFormatException(source, "added_tokens", "expected an array");
            int k = 0;
            foreach (var t in addedEl.EnumerateArray()) added.Add(ReadAddedToken(t, source, $"added_tokens[{k++}]"));
        }

        var normalizer = root.TryGetProperty("normalizer", out var normEl) ? ReadNormalizer(normEl, source, "normalizer") : (s => s);
        bool byteLevel = false;
        var steps = new List<PreTokenizerStep>();
        if (root.TryGetProperty("pre_tokenizer", out var preEl)) ReadPreTokenizer(preEl, source, "pre_tokenizer", steps, ref byteLevel);
        bool hasDecoder = root.TryGetProperty("decoder", out var decEl) && decEl.ValueKind == JsonValueKind.Object;
        if (hasDecoder) byteLevel |= ContainsType(decEl, "ByteLevel", "decoders");
        if (byteLevel && byteFallback)
            throw new TokenizerFormatException(source, "model.byte_fallback", "byte fallback with a ByteLevel pre-tokenizer or decoder is contradictory (byte-level BPE never misses a byte)");
        // Without ByteLevel anywhere it is a SentencePiece-style BPE (Gemma, Llama 2): characters are the initial symbols. It must
        // say so (byte fallback or its own decoder): a file that says neither is more likely broken than a character BPE.
        if (!byteLevel && !byteFallback && !hasDecoder)
            throw new TokenizerFormatException(source, "pre_tokenizer", "no ByteLevel pre-tokenizer or decoder, and no byte_fallback or decoder of a SentencePiece-style BPE: only byte-level and SentencePiece-style BPE vocabularies are supported");
        var pieceDecoder = byteLevel ? null : PieceDecoder.Read(hasDecoder ? decEl : null, source);
        var model = new BpeModel(vocab, merges, source, unk, ignoreMerges, characterLevel: !byteLevel, byteFallback, fuseUnk);

        var cfg = tokenizerConfigJson is null ? null : ReadConfig(tokenizerConfigJson, configSource);
        var post = PostProcessor.FromConfig(cfg, root.TryGetProperty("post_processor", out var ppEl) ? ppEl : null, source);
        // Tokens only listed in tokenizer_config.json's added_tokens_decoder are added too.
        var known = added.Select(a => a.Id).ToHashSet();
        added.AddRange((cfg?.Added ?? []).Where(a => !known.Contains(a.Id)));
        return new TextTokenizer(source, model, normalizer, new PreTokenizer(steps), added, post, cfg?.Bos, cfg?.Eos, cfg?.Pad, pieceDecoder);
    }

    internal sealed record Config(string? Bos, string? Eos, string? Pad, bool AddBos, bool AddEos, List<AddedToken> Added);

    static Config ReadConfig(string json, string source)
    {
        using var doc = ParseJson(json, source);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new TokenizerFormatException(source, "(root)", $"expected a JSON object, got {root.ValueKind}");
        string? Tok(string name)
        {
            if (!root.TryGetProperty(name, out var el)) return null;
            return el.ValueKind switch
            {
                JsonValueKind.Null => null,
                JsonValueKind.String => el.GetString(),
                JsonValueKind.Object when el.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString(),
                _ => throw new TokenizerFormatException(source, name, "expected a string, null or an object with \"content\""),
            };
        }
        bool Flag(string name) => root.TryGetProperty(name, out var el) && el.ValueKind == JsonValueKind.True;
        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens_decoder", out var dec) && dec.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in dec.EnumerateObject())
            {
                string field = $"added_tokens_decoder.{p.Name}";
                if (!int.TryParse(p.Name, out int id) || id < 0) throw new TokenizerFormatException(source, field, "expected a non-negative integer id as the key");
                if (p.Value.ValueKind != JsonValueKind.Object) throw new TokenizerFormatException(source, field, "expected an object");
                added.Add(ReadAddedToken(p.Value, source, field, id));
            }
        }
        return new Config(Tok("bos_token"), Tok("eos_token"), Tok("pad_token"), Flag("add_bos_token"), Flag("add_eos_token"), added);
    }

    static AddedToken ReadAddedToken(JsonElement t, string source, string field, int? id = null)
    {
        if (t.ValueKind != JsonValueKind.Object) throw new TokenizerFormatException(source, field, "expected an object");
        var content = t.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! :
            throw new TokenizerFormatException(source, field + ".content", "expected a string");
        int tokenId = id ?? (t.TryGetProperty("id", out var idEl) && idEl.ValueKind == JsonValueKind.Number && idEl.TryGetInt32(out int v) && v >= 0 ? v
            : throw new TokenizerFormatException(source, field + ".id", "expected a non-negative integer"));
        CheckId(tokenId, content, source, id is null ? field + ".id" : field);
        bool F(string n, bool dflt) => t.TryGetProperty(n, out var e) ? e.ValueKind == JsonValueKind.True : dflt;
        bool special = F("special", false);
        return new AddedToken(tokenId, content, special, F("single_word", false), F("lstrip", false), F("rstrip", false), F("normalized", !special));
    }

    /// <summary>The most ids a tokenizer may have (4,194,304; the largest real vocabularies hold about 262,000): an id is an
    /// index into the id → token table, so an id like 2³¹−1 in a file is refused instead of sizing that table.</summary>
    public const int MaxVocabSize = 1 << 22;

    static void CheckId(int id, string token, string source, string field)
    {
        if (id >= MaxVocabSize)
            throw new TokenizerFormatException(source, field, $"token \"{token}\" has id {id}, beyond the largest supported vocabulary ({MaxVocabSize:N0} ids)");
    }

    static Dictionary<string, int> ReadVocab(JsonElement el, string source, string field)
    {
        if (el.ValueKind != JsonValueKind.Object) throw new TokenizerFormatException(source, field, $"expected an object of token → id, got {el.ValueKind}");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in el.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id) || id < 0)
                throw new TokenizerFormatException(source, $"{field}[\"{p.Name}\"]", "expected a non-negative integer id");
            CheckId(id, p.Name, source, $"{field}[\"{p.Name}\"]");
            vocab[p.Name] = id;
        }
        if (vocab.Count == 0) throw new TokenizerFormatException(source, field, "the vocabulary is empty");
        return vocab;
    }

    static Func<string, string> ReadNormalizer(JsonElement el, string source, string field)
    {
        if (el.ValueKind == JsonValueKind.Null) return s => s;
        if (el.ValueKind != JsonValueKind.Object) throw new TokenizerFormatException(source, field, "expected an object or null");
        string type = TypeOf(el, source, field);
        switch (type)
        {
            case "NFC": return s => UnicodeNormalizer.Normalize(s, NormalizationKind.Nfc);
            case "NFD": return s => UnicodeNormalizer.Normalize(s, NormalizationKind.Nfd);
            case "NFKC": return s => UnicodeNormalizer.Normalize(s, NormalizationKind.Nfkc);
            case "NFKD": return s => UnicodeNormalizer.Normalize(s, NormalizationKind.Nfkd);
            case "Lowercase": return s => s.ToLowerInvariant();
            case "Prepend":
            {
                string p = Required(el, "prepend", source, field + ".prepend", JsonValueKind.String).GetString()!;
                return s => s.Length == 0 ? s : p + s;
            }
            case "Replace":
            {
                var regex = ReadPattern(Required(el, "pattern", source, field + ".pattern", JsonValueKind.Object), source, field + ".pattern");
                string content = Required(el, "content", source, field + ".content", JsonValueKind.String).GetString()!;
                return s => regex.Replace(s, content.Replace("$", "$$"));
            }
            case "Sequence":
            {
                var items = Required(el, "normalizers", source, field + ".normalizers", JsonValueKind.Array);
                var fs = items.EnumerateArray().Select((n, k) => ReadNormalizer(n, source, $"{field}.normalizers[{k}]")).ToArray();
                return s => { foreach (var f in fs) s = f(s); return s; };
            }
            default: throw new TokenizerFormatException(source, field + ".type", $"normalizer \"{type}\" is not supported");
        }
    }

    static void ReadPreTokenizer(JsonElement el, string source, string field, List<PreTokenizerStep> steps, ref bool byteLevel)
    {
        if (el.ValueKind == JsonValueKind.Null) return;
        if (el.ValueKind != JsonValueKind.Object) throw new TokenizerFormatException(source, field, "expected an object or null");
        string type = TypeOf(el, source, field);
        switch (type)
        {
            case "Sequence":
            {
                int k = 0;
                foreach (var p in Required(el, "pretokenizers", source, field + ".pretokenizers", JsonValueKind.Array).EnumerateArray())
                    ReadPreTokenizer(p, source, $"{field}.pretokenizers[{k++}]", steps, ref byteLevel);
                break;
            }
            case "ByteLevel":
            {
                bool prefix = el.TryGetProperty("add_prefix_space", out var ap) && ap.ValueKind == JsonValueKind.True;
                bool useRegex = !el.TryGetProperty("use_regex", out var ur) || ur.ValueKind != JsonValueKind.False;
                steps.Add(new ByteLevelStep(prefix, useRegex));
                byteLevel = true;
                break;
            }
            case "Split":
            {
                var regex = ReadPattern(Required(el, "pattern", source, field + ".pattern", JsonValueKind.Object), source, field + ".pattern");
                string behavior = Required(el, "behavior", source, field + ".behavior", JsonValueKind.String).GetString()!;
                if (!Enum.TryParse<SplitBehavior>(behavior, out var b))
                    throw new TokenizerFormatException(source, field + ".behavior", $"unknown split behavior \"{behavior}\"");
                bool invert = el.TryGetProperty("invert", out var inv) && inv.ValueKind == JsonValueKind.True;
                steps.Add(new RegexSplitStep(regex, b, invert));
                break;
            }
            case "Digits":
            {
                bool individual = el.TryGetProperty("individual_digits", out var d) && d.ValueKind == JsonValueKind.True;
                steps.Add(new RegexSplitStep(new Regex(individual ? @"\p{N}" : @"\p{N}+", RegexOptions.CultureInvariant), SplitBehavior.Isolated, false));
                break;
            }
            default: throw new TokenizerFormatException(source, field + ".type", $"pre-tokenizer \"{type}\" is not supported");
        }
    }

    internal static Regex ReadPattern(JsonElement el, string source, string field)
    {
        try
        {
            if (el.TryGetProperty("Regex", out var r) && r.ValueKind == JsonValueKind.String)
                return new Regex(r.GetString()!, RegexOptions.Compiled | RegexOptions.CultureInvariant, PatternTimeout);
            if (el.TryGetProperty("String", out var s) && s.ValueKind == JsonValueKind.String)
                return new Regex(Regex.Escape(s.GetString()!), RegexOptions.CultureInvariant, PatternTimeout);
        }
        catch (ArgumentException e)
        {
            throw new TokenizerFormatException(source, field, $"the pattern is not a valid regular expression here: {e.Message}", e);
        }
        throw new TokenizerFormatException(source, field, "expected {\"Regex\": \"...\"} or {\"String\": \"...\"}");
    }

    static bool ContainsType(JsonElement el, string type, string listField)
    {
        if (el.ValueKind != JsonValueKind.Object) return false;
        if (el.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == type) return true;
        return el.TryGetProperty(listField, out var list) && list.ValueKind == JsonValueKind.Array && list.EnumerateArray().Any(x => ContainsType(x, type, listField));
    }

    internal static string TypeOf(JsonElement el, string source, string field) =>
        el.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! :
            throw new TokenizerFormatException(source, field + ".type", "missing or not a string");

    internal static JsonElement Required(JsonElement obj, string name, string source, string field, JsonValueKind kind)
    {
        if (!obj.TryGetProperty(name, out var el)) throw new TokenizerFormatException(source, field, "missing");
        if (el.ValueKind != kind) throw new TokenizerFormatException(source, field, $"expected {kind}, got {el.ValueKind}");
        return el;
    }

    internal static JsonDocument ParseJson(string json, string source)
    {
        try
        {
            return JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            string where = e.LineNumber is long l ? $" at line {l + 1}, byte {e.BytePositionInLine + 1}" : "";
            throw new TokenizerFormatException(source, null, $"invalid or truncated JSON{where}", e);
        }
    }
}
