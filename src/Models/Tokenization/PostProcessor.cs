using System.Text.Json;

namespace BitDistill.Models.Tokenization;

/// <summary>What <c>Encode(text, addSpecialTokens: true)</c> adds around a single sequence (tokenizer.json "post_processor", else tokenizer_config's add_bos/eos_token).</summary>
internal sealed class PostProcessor
{
    readonly int[] _prefix;
    readonly int[] _suffix;

    PostProcessor(int[] prefix, int[] suffix)
    {
        _prefix = prefix;
        _suffix = suffix;
    }

    public int[] Apply(List<int> ids)
    {
        var r = new int[_prefix.Length + ids.Count + _suffix.Length];
        _prefix.CopyTo(r, 0);
        ids.CopyTo(r, _prefix.Length);
        _suffix.CopyTo(r, _prefix.Length + ids.Count);
        return r;
    }

    public static PostProcessor FromConfig(TextTokenizer.Config? cfg, JsonElement? post, string source = "tokenizer.json")
    {
        var prefix = new List<int>();
        var suffix = new List<int>();
        bool templated = false;
        if (post is JsonElement p && p.ValueKind == JsonValueKind.Object)
            templated = Read(p, source, "post_processor", prefix, suffix);
        return new PostProcessor(prefix.ToArray(), suffix.ToArray()) { RequiresConfigTokens = !templated && cfg is not null && (cfg.AddBos || cfg.AddEos), Cfg = cfg };
    }

    // When the post-processor adds nothing, tokenizer_config's add_bos_token / add_eos_token decide; resolved lazily by id.
    bool RequiresConfigTokens { get; init; }
    TextTokenizer.Config? Cfg { get; init; }

    /// <summary>Resolves BOS/EOS from the config once the vocabulary is known.</summary>
    public PostProcessor Resolve(Func<string, int?> tokenToId)
    {
        if (!RequiresConfigTokens || Cfg is null) return this;
        var prefix = new List<int>(_prefix);
        var suffix = new List<int>(_suffix);
        if (Cfg.AddBos && Cfg.Bos is not null && tokenToId(Cfg.Bos) is int b) prefix.Insert(0, b);
        if (Cfg.AddEos && Cfg.Eos is not null && tokenToId(Cfg.Eos) is int e) suffix.Add(e);
        return new PostProcessor(prefix.ToArray(), suffix.ToArray());
    }

    static bool Read(JsonElement p, string source, string field, List<int> prefix, List<int> suffix)
    {
        string type = TextTokenizer.TypeOf(p, source, field);
        switch (type)
        {
            case "ByteLevel":
                return false;
            case "Sequence":
            {
                bool any = false;
                int k = 0;
                foreach (var x in TextTokenizer.Required(p, "processors", source, field + ".processors", JsonValueKind.Array).EnumerateArray())
                    any |= Read(x, source, $"{field}.processors[{k++}]", prefix, suffix);
                return any;
            }
            case "BertProcessing":
            case "RobertaProcessing":
            {
                prefix.Add(PairId(TextTokenizer.Required(p, "cls", source, field + ".cls", JsonValueKind.Array), source, field + ".cls"));
                suffix.Add(PairId(TextTokenizer.Required(p, "sep", source, field + ".sep", JsonValueKind.Array), source, field + ".sep"));
                return true;
            }
            case "TemplateProcessing":
            {
                var single = TextTokenizer.Required(p, "single", source, field + ".single", JsonValueKind.Array);
                var specials = TextTokenizer.Required(p, "special_tokens", source, field + ".special_tokens", JsonValueKind.Object);
                bool seenSequence = false;
                int k = 0;
                foreach (var item in single.EnumerateArray())
                {
                    string f = $"{field}.single[{k++}]";
                    if (item.TryGetProperty("Sequence", out _)) { seenSequence = true; continue; }
                    if (!item.TryGetProperty("SpecialToken", out var st) || !st.TryGetProperty("id", out var idEl) || idEl.ValueKind != JsonValueKind.String)
                        throw new TokenizerFormatException(source, f, "expected {\"SpecialToken\": {\"id\": ...}} or {\"Sequence\": ...}");
                    string name = idEl.GetString()!;
                    if (!specials.TryGetProperty(name, out var spec) || !spec.TryGetProperty("ids", out var ids) || ids.ValueKind != JsonValueKind.Array)
                        throw new TokenizerFormatException(source, $"{field}.special_tokens.{name}.ids", "missing");
                    foreach (var id in ids.EnumerateArray()) (seenSequence ? suffix : prefix).Add(id.GetInt32());
                }
                return true;
            }
            default:
                throw new TokenizerFormatException(source, field + ".type", $"post-processor \"{type}\" is not supported");
        }
    }

    static int PairId(JsonElement pair, string source, string field) =>
        pair.GetArrayLength() == 2 && pair[1].ValueKind == JsonValueKind.Number ? pair[1].GetInt32() :
            throw new TokenizerFormatException(source, field, "expected [\"token\", id]");
}
