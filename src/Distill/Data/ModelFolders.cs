using BitDistill.Models.Generation;
using BitDistill.Models.Tokenization;

namespace BitDistill.Distill.Data;

/// <summary>Helpers for Hugging Face model folders.</summary>
public static class ModelFolders
{
    /// <summary>Copies tokenizer.json and tokenizer_config.json from a tokenizer folder (or the folder of a tokenizer.json) into a model folder,
    /// so the model folder is self-contained for generate/classify; the folder's generation_config.json gets the tokenizer's
    /// bos/eos/pad ids where the model config had none.</summary>
    public static void CopyTokenizer(string tokenizerPath, string modelDir)
    {
        var srcDir = Directory.Exists(tokenizerPath) ? tokenizerPath : Path.GetDirectoryName(Path.GetFullPath(tokenizerPath))!;
        foreach (var f in new[] { "tokenizer.json", "tokenizer_config.json" })
        {
            var src = Path.Combine(srcDir, f);
            if (!File.Exists(src)) continue;
            var tmp = Path.Combine(modelDir, "." + f + ".tmp");
            File.Copy(src, tmp, overwrite: true);
            File.Move(tmp, Path.Combine(modelDir, f), overwrite: true);
        }
        if (GenerationConfig.Load(modelDir) is { } g && File.Exists(Path.Combine(modelDir, "tokenizer.json")))
        {
            var tok = TextTokenizer.Load(modelDir);
            (g with
            {
                BosTokenId = g.BosTokenId ?? tok.BosId, PadTokenId = g.PadTokenId ?? tok.PadId,
                EosTokenIds = g.EosTokenIds.Count > 0 ? g.EosTokenIds : tok.EosId is int e ? [e] : [],
            }).Save(modelDir);
        }
    }
}
