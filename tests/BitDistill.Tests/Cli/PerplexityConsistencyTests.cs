using System.Globalization;
using System.IO.Compression;
using System.Text.Json;
using System.Text.RegularExpressions;
using BitDistill.Distill.Data;
using BitDistill.Distill.Evaluation;
using BitDistill.Models;
using BitDistill.Models.BitNet;
using BitDistill.Models.Tokenization;

namespace BitDistill.Tests.Cli;

/// <summary>One model on one held-out text gives one perplexity, whichever verb measures it, and the unigram baseline
/// is measured on exactly the tokens the model is scored on.</summary>
[Collection("Serial")]
public sealed class PerplexityConsistencyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bitdistill-ppl").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Data(params string[] p) => Path.Combine([AppContext.BaseDirectory, "data", .. p]);

    private static string[] Lines(string gz, int skip, int take)
    {
        using var r = new StreamReader(new GZipStream(File.OpenRead(gz), CompressionMode.Decompress));
        return r.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(skip).Take(take).ToArray();
    }

    [Fact]
    public void PretrainQuantizeAndTheLibraryReportTheSamePerplexityForTheSameModelAndText()
    {
        string corpus = Path.Combine(_dir, "train.txt"), valid = Path.Combine(_dir, "valid.txt");
        var text = Lines(Data("corpus", "austen.train.txt.gz"), 0, 400);
        File.WriteAllLines(corpus, text[..300]);
        File.WriteAllLines(valid, text[300..]);
        string fp = Path.Combine(_dir, "fp");
        var (code, stdout, stderr) = CliRunner.Run("pretrain", "--output", fp, "--corpus", corpus, "--valid", valid, "--steps", "12",
            "--batch", "2", "--seq-len", "16", "--hidden", "32", "--layers", "1", "--heads", "2", "--kv-heads", "1", "--head-dim", "16",
            "--intermediate", "48", "--seed", "3");
        Assert.True(code == 0, stderr);

        var tok = TextTokenizer.Load(fp);
        int eos = tok.TokenToId("<|endoftext|>")!.Value;
        var train = TokenDataset.FromFiles([corpus], tok, eos);
        var held = TokenDataset.FromFiles([valid], tok, eos);
        var protocol = new PerplexityProtocol(16, new BitDistill.Distill.Training.TrainingOptions().EvalWindows);
        Assert.Contains($"measured on {protocol.Describe(held)}", stdout);

        // the unigram baseline: counted here from the raw ids over exactly the scored targets
        var counts = new Dictionary<int, long>();
        foreach (var t in train.Tokens) counts[t] = counts.GetValueOrDefault(t) + 1;
        int scored = protocol.Windows(held) * 16;
        double nll = 0;
        for (int i = 1; i <= scored; i++) nll -= Math.Log((counts.GetValueOrDefault(held.Tokens[i]) + 1.0) / (train.Count + tok.VocabSize));
        double printedUnigram = double.Parse(Regex.Match(stdout, @"unigram baseline there: ([0-9.]+)").Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.Equal(Math.Exp(nll / scored), printedUnigram, 0.006);

        // the trainer's last validation equals the library's perplexity of the saved model
        var lastValidation = File.ReadLines(Path.Combine(fp, "run", "metrics.jsonl")).Where(l => l.Contains("\"validation\"")).Last();
        double trained = JsonDocument.Parse(lastValidation).RootElement.GetProperty("validation").GetProperty("value").GetDouble();
        var model = ModelRegistry.FromPretrained(fp);
        Assert.Equal(trained, Perplexity.Compute(model, held, protocol), 1e-9 * trained);

        // quantize's "before" perplexity on a ternary copy equals the library's on the same model, text and windows
        string ternary = Path.Combine(_dir, "ternary");
        var student = Refiner.Refine(model, new BitNetConfig { SubLn = SubLnPlacement.Paper });
        student.SavePretrained(ternary);
        ModelFolders.CopyTokenizer(fp, ternary);
        (code, stdout, stderr) = CliRunner.Run("quantize", "--model", ternary, "--method", "gptq", "--calibration", corpus, "--eval", valid,
            "--seq-len", "16", "--calibration-tokens", "256", "--output", Path.Combine(_dir, "q"));
        Assert.True(code == 0, stderr);
        Assert.Contains($"perplexity on {protocol.Describe(held)}", stdout);
        double before = double.Parse(Regex.Match(stdout, @"perplexity ([0-9.]+) →").Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.Equal(Perplexity.Compute(ModelRegistry.FromPretrained(ternary), held, protocol), before, 0.006);
    }
}
