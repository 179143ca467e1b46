using BitDistill.Autograd;
using BitDistill.Models.Layers;
using BitDistill.Tensors;

namespace BitDistill.Models.Gemma3;

/// <summary>The language model of a "gemma3" (Gemma3ForConditionalGeneration) checkpoint, named "language_model" there: the
/// decoder stack "model" and "lm_head" (absent when tied), as Gemma3ForCausalLM.</summary>
public sealed class Gemma3LanguageModel : Module
{
    /// <summary>Builds the stack and head; weights from <paramref name="gen"/> or zeros.</summary>
    public Gemma3LanguageModel(Gemma3Config config, Generator? gen = null)
    {
        Model = Child("model", new Gemma3TextModel(config, gen));
        if (!config.TieWordEmbeddings)
            LmHead = Child("lm_head", new Linear(config.HiddenSize, config.VocabSize, false, gen, (float)config.InitializerRange));
    }

    /// <summary>The decoder stack.</summary>
    public Gemma3TextModel Model { get; }
    /// <summary>The output projection; null when tied.</summary>
    public Linear? LmHead { get; private set; }

    /// <inheritdoc/>
    protected override void OnChildReplaced(string name, Module module)
    {
        if (name == "lm_head") LmHead = module as Linear ?? throw new ArgumentException("lm_head must be a Linear");
        else base.OnChildReplaced(name, module);
    }
}
