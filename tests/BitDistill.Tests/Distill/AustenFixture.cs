using BitDistill.Distill.Data;
using BitDistill.Distill.Evaluation;
using BitDistill.Distill.Training;
using BitDistill.Models.Qwen;
using BitDistill.Models.Tokenization;
using BitDistill.Tensors;

namespace BitDistill.Tests.Distill;

/// <summary>The embedded corpus, its tokenizer and a small Qwen3 trained on it once for the tests of this class.</summary>
public sealed class AustenFixture
{
    public AustenFixture()
    {
        var dir = Path.Combine(AppContext.BaseDirectory, "data");
        Tokenizer = TextTokenizer.Load(Path.Combine(dir, "tokenizer"));
        int eos = Tokenizer.TokenToId("<|endoftext|>") ?? throw new InvalidDataException("tokenizer lacks <|endoftext|>");
        Train = TokenDataset.FromFiles([Path.Combine(dir, "corpus", "austen.train.txt.gz")], Tokenizer, eos);
        Valid = TokenDataset.FromFiles([Path.Combine(dir, "corpus", "austen.valid.txt.gz")], Tokenizer, eos);
        Unigram = UnigramBaseline.Perplexity(Train.Tokens, Valid, Tokenizer.VocabSize, new PerplexityProtocol(64, 48));
        Model = new QwenModel(Config(Tokenizer.VocabSize), new Generator(1));
        var log = new StringWriter();
        History = CausalLmTrainer.Train(Model, Train, Valid, Options with { Log = log });
        Log = log.ToString();
    }

    public static QwenConfig Config(int vocab) => QwenConfig.Parse($$"""
        {"model_type": "qwen3", "vocab_size": {{vocab}}, "hidden_size": 128, "intermediate_size": 384, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32, "rms_norm_eps": 1e-6, "rope_theta": 10000,
         "tie_word_embeddings": true, "max_position_embeddings": 512, "hidden_act": "silu", "initializer_range": 0.02}
        """);

    public static readonly TrainingOptions Options = new()
    {
        Steps = 300, BatchSize = 8, SeqLen = 64, LearningRate = 3e-3f, WarmupSteps = 30, EvalEvery = 0, EvalWindows = 48, LogEvery = 50, Seed = 3,
    };

    public TextTokenizer Tokenizer { get; }
    public TokenDataset Train { get; }
    public TokenDataset Valid { get; }
    public double Unigram { get; }
    public QwenModel Model { get; }
    public TrainingHistory History { get; }
    public string Log { get; }
}
