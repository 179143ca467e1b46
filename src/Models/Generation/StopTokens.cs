using BitDistill.Models.Tokenization;

namespace BitDistill.Models.Generation;

/// <summary>The tokens that end generation by default: the config's eos_token_id(s) and the tokenizer's EOS token.</summary>
public static class StopTokens
{
    /// <summary>The default stop set of <paramref name="model"/> with <paramref name="tokenizer"/> (optional).</summary>
    public static IReadOnlySet<int> Default(CausalLanguageModel model, TextTokenizer? tokenizer)
    {
        var stops = new HashSet<int>(model.Config.EosTokenIds);
        if (tokenizer?.EosId is int eos) stops.Add(eos);
        return stops;
    }
}
