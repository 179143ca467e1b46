using System.Text.Json.Nodes;

namespace BitDistill.Models;

/// <summary>What every architecture's config.json offers the code above the model (trainer, generator, refine step, CLI):
/// the fields all causal LMs share, and raw access to the rest so unknown fields survive a round trip.</summary>
public interface IModelConfig
{
    /// <summary>The file (or description) it was read from, for error messages.</summary>
    string Source { get; }
    /// <summary>Hugging Face's model_type ("qwen3", "qwen2", …): the key of <see cref="ModelRegistry"/>.</summary>
    string ModelType { get; }
    /// <summary>Vocabulary size.</summary>
    int VocabSize { get; }
    /// <summary>Width of the residual stream.</summary>
    int HiddenSize { get; }
    /// <summary>Decoder layers.</summary>
    int NumHiddenLayers { get; }
    /// <summary>Query heads per layer.</summary>
    int NumAttentionHeads { get; }
    /// <summary>Key/value heads per layer.</summary>
    int NumKeyValueHeads { get; }
    /// <summary>Width of one attention head.</summary>
    int HeadDim { get; }
    /// <summary>Longest sequence the positions were trained for.</summary>
    int MaxPositionEmbeddings { get; }
    /// <summary>Whether the LM head reuses the token embeddings.</summary>
    bool TieWordEmbeddings { get; }
    /// <summary>The end-of-sequence ids (eos_token_id, one or a list).</summary>
    IReadOnlyList<int> EosTokenIds { get; }
    /// <summary>Parameters the config implies, computed from its sizes without building the model (checked arithmetic).</summary>
    long ParameterCount { get; }
    /// <summary>Whether the raw JSON has a non-null field.</summary>
    bool Has(string field);
    /// <summary>A copy of a raw JSON field, or null.</summary>
    JsonNode? Get(string field);
    /// <summary>A copy with a raw field set (or removed), re-validated.</summary>
    IModelConfig WithField(string field, JsonNode? value, bool remove = false);
    /// <summary>Writes config.json atomically.</summary>
    void Save(string path);
}
