#:project ../../src/Distill/BitDistill.Distill.csproj
// Stores the pretrained base model in BF16 with its tokenizer, and reports its held-out perplexity per corpus against the
// unigram baseline (see data/models/README.md):
//   dotnet run -c Release data/tools/make-base.cs -- artifacts/base-pretrain artifacts/corpus data/models/base
using System.Globalization;
using BitDistill.Distill.Data;
using BitDistill.Distill.Evaluation;
using BitDistill.Models;
using BitDistill.Models.Tokenization;
using BitDistill.Tensors;

if (args.Length != 3)
{
    Console.Error.WriteLine("usage: dotnet run data/tools/make-base.cs -- PRETRAINED_DIR CORPUS_DIR OUTPUT_DIR");
    return 2;
}
var model = ModelRegistry.FromPretrained(args[0]);
var tok = TextTokenizer.Load(args[0]);
int eos = tok.TokenToId("<|endoftext|>") ?? throw new InvalidDataException("no <|endoftext|>");
var tmp = args[2] + ".tmp";
if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
model.SavePretrained(tmp, DType.BFloat16);
ModelFolders.CopyTokenizer(args[0], tmp);
if (Directory.Exists(args[2])) Directory.Delete(args[2], true);
Directory.Move(tmp, args[2]);
// perplexity of the stored (BF16) weights, on every held-out file, in 256-token windows
var stored = ModelRegistry.FromPretrained(args[2]);
Console.WriteLine("| corpus | held-out tokens | unigram perplexity | base model perplexity |");
Console.WriteLine("|---|---:|---:|---:|");
foreach (var name in PretrainingCorpus.Names)
{
    var train = TokenDataset.FromFiles([Path.Combine(args[1], name + ".train.txt.gz")], tok, eos);
    var valid = TokenDataset.FromFiles([Path.Combine(args[1], name + ".valid.txt.gz")], tok, eos);
    const int Seq = 256;
    var protocol = new PerplexityProtocol(Seq, MaxWindows: 200);
    int windows = protocol.Windows(valid);
    double uni = UnigramBaseline.Perplexity(train.Tokens, valid, tok.VocabSize, protocol);
    double ppl = Perplexity.Compute(stored, valid, protocol);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {windows * Seq:N0} | {uni:F1} | {ppl:F1} |"));
}
return 0;
