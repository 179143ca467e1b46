using System.Text.Json;
using System.Text.Json.Nodes;
using BitDistill.Models.Tokenization;
using BitDistill.Tensors;

namespace BitDistill.Models.Generation;

/// <summary>A model folder's generation_config.json as Hugging Face's <c>GenerationConfig</c> writes it: the special token ids
/// (bos/eos/pad) and the decoding defaults. The folders this project writes get one with the greedy defaults (do_sample
/// false, temperature 1, top_k 50, top_p 1, repetition_penalty 1, as <c>GenerationConfig()</c>); <c>generate</c> takes its
/// defaults from it, and its flags override.</summary>
public sealed record GenerationConfig
{
    /// <summary>The file name in a model folder.</summary>
    public const string FileName = "generation_config.json";

    /// <summary>bos_token_id, if any.</summary>
    public int? BosTokenId { get; init; }
    /// <summary>eos_token_id (one id or a list).</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    /// <summary>pad_token_id, if any.</summary>
    public int? PadTokenId { get; init; }
    /// <summary>do_sample: false means greedy decoding.</summary>
    public bool DoSample { get; init; }
    /// <summary>temperature (&gt; 0).</summary>
    public float Temperature { get; init; } = 1f;
    /// <summary>top_k (0 = off).</summary>
    public int TopK { get; init; } = 50;
    /// <summary>top_p in (0, 1].</summary>
    public float TopP { get; init; } = 1f;
    /// <summary>repetition_penalty (&gt; 0, 1 = off).</summary>
    public float RepetitionPenalty { get; init; } = 1f;
    /// <summary>max_new_tokens, if set.</summary>
    public int? MaxNewTokens { get; init; }

    /// <summary>The greedy defaults with the model config's bos/eos/pad ids, completed from <paramref name="tokenizer"/> where
    /// the config has none.</summary>
    public static GenerationConfig FromModelConfig(IModelConfig config, TextTokenizer? tokenizer = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        int? Id(string field) => config.Get(field) is JsonValue v && v.TryGetValue<int>(out int id) && id >= 0 ? id : null;
        var eos = config.EosTokenIds.Count > 0 ? config.EosTokenIds : tokenizer?.EosId is int e ? [e] : [];
        return new GenerationConfig
        {
            BosTokenId = Id("bos_token_id") ?? tokenizer?.BosId,
            EosTokenIds = eos,
            PadTokenId = Id("pad_token_id") ?? tokenizer?.PadId,
        };
    }

    /// <summary>Writes generation_config.json into <paramref name="folder"/> through a temporary file.</summary>
    public void Save(string folder)
    {
        var o = new JsonObject();
        if (BosTokenId is int bos) o["bos_token_id"] = bos;
        if (EosTokenIds.Count == 1) o["eos_token_id"] = EosTokenIds[0];
        else if (EosTokenIds.Count > 1) o["eos_token_id"] = new JsonArray(EosTokenIds.Select(i => (JsonNode?)i).ToArray());
        if (PadTokenId is int pad) o["pad_token_id"] = pad;
        o["do_sample"] = DoSample;
        o["temperature"] = Temperature;
        o["top_k"] = TopK;
        o["top_p"] = TopP;
        o["repetition_penalty"] = RepetitionPenalty;
        if (MaxNewTokens is int m) o["max_new_tokens"] = m;
        var path = Path.Combine(folder, FileName);
        AtomicFile.WriteAllText(path, o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>Reads generation_config.json from <paramref name="folder"/>, or null when there is none; unknown fields are
    /// ignored (Hugging Face's files hold many), known ones are checked and errors name the file and the field.</summary>
    /// <exception cref="ModelConfigException">The file is not valid JSON or a field has a wrong type or value.</exception>
    public static GenerationConfig? Load(string folder)
    {
        var path = Path.Combine(folder, FileName);
        if (!File.Exists(path)) return null;
        JsonObject o;
        try { o = JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { MaxDepth = 64 }) as JsonObject ?? throw new ModelConfigException(path, null, "expected a JSON object"); }
        catch (JsonException e) { throw new ModelConfigException(path, null, $"not valid JSON: {e.Message}", e); }
        T? Get<T>(string key) where T : struct
        {
            var n = o[key];
            if (n is null) return null;
            try { return n.GetValue<T>(); }
            catch (Exception e) when (e is InvalidOperationException or FormatException or OverflowException)
            {
                throw new ModelConfigException(path, key, $"expected {(typeof(T) == typeof(bool) ? "true or false" : "a number")}, got {n.ToJsonString()}", e);
            }
        }
        int? TokenId(string key) => Get<int>(key) is int id && id < 0 ? throw new ModelConfigException(path, key, $"must be a non-negative token id, got {id}") : Get<int>(key);
        var eos = new List<int>();
        if (o["eos_token_id"] is JsonArray list)
            for (int i = 0; i < list.Count; i++)
                eos.Add(list[i] is JsonValue v && v.TryGetValue<int>(out int id) && id >= 0 ? id : throw new ModelConfigException(path, $"eos_token_id[{i}]", "expected a non-negative token id"));
        else if (TokenId("eos_token_id") is int single) eos.Add(single);
        var g = new GenerationConfig
        {
            BosTokenId = TokenId("bos_token_id"), EosTokenIds = eos, PadTokenId = TokenId("pad_token_id"),
            DoSample = Get<bool>("do_sample") ?? false, Temperature = Get<float>("temperature") ?? 1f, TopK = Get<int>("top_k") ?? 50,
            TopP = Get<float>("top_p") ?? 1f, RepetitionPenalty = Get<float>("repetition_penalty") ?? 1f, MaxNewTokens = Get<int>("max_new_tokens"),
        };
        if (!(g.Temperature > 0) || !float.IsFinite(g.Temperature)) throw new ModelConfigException(path, "temperature", $"must be > 0 and finite, got {g.Temperature}");
        if (g.TopK < 0) throw new ModelConfigException(path, "top_k", $"must be ≥ 0, got {g.TopK}");
        if (!(g.TopP > 0 && g.TopP <= 1)) throw new ModelConfigException(path, "top_p", $"must be in (0, 1], got {g.TopP}");
        if (!(g.RepetitionPenalty > 0) || !float.IsFinite(g.RepetitionPenalty)) throw new ModelConfigException(path, "repetition_penalty", $"must be > 0 and finite, got {g.RepetitionPenalty}");
        if (g.MaxNewTokens is < 0) throw new ModelConfigException(path, "max_new_tokens", $"must be ≥ 0, got {g.MaxNewTokens}");
        return g;
    }
}
