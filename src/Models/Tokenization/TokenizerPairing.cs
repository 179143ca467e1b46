namespace BitDistill.Models.Tokenization;

/// <summary>The check made wherever a model and a tokenizer meet (generate, evaluate, classify, the task verbs, quantize):
/// a tokenizer with more ids than the model's vocabulary is refused, since the ids it gives would index past the embedding;
/// a smaller one is accepted, as Hugging Face does — embeddings are often padded past the tokenizer (Qwen3: 151,669 tokens,
/// 151,936 rows) — and generated ids it lacks are shown as "&lt;unk:ID&gt;" instead of being dropped. Ids past the vocabulary
/// that are all special added tokens are accepted too (Gemma 3's tokenizer has &lt;image_soft_token&gt; 262,144 for the
/// multimodal models, one past the text models' 262,144 rows): ordinary text never encodes to them, and a prompt that names
/// one is refused where its ids are checked.</summary>
public static class TokenizerPairing
{
    /// <summary>Throws <see cref="TokenizerFormatException"/> naming both files when <paramref name="tokenizer"/> does not fit
    /// <paramref name="config"/>.</summary>
    public static void Check(TextTokenizer tokenizer, IModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(config);
        int firstOrdinary = -1;
        for (int id = config.VocabSize; id < tokenizer.VocabSize && firstOrdinary < 0; id++)
            if (tokenizer.IdToToken(id) is not null && !tokenizer.IsSpecial(id)) firstOrdinary = id;
        if (firstOrdinary >= 0)
            throw new TokenizerFormatException(tokenizer.Source, null,
                $"the tokenizer has {tokenizer.VocabSize} ids but the model has vocab_size {config.VocabSize} ({config.Source}): ids from {tokenizer.VocabSize - 1} down to {config.VocabSize} would index past its embedding; do the tokenizer and the model belong together?");
    }
}
