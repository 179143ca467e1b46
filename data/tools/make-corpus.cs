#:project ../../src/Distill/BitDistill.Distill.csproj
// Derives the base model's pretraining corpus from ../shared/data, and the small samples that ship in data/corpus
// (see data/models/README.md):
//   dotnet run -c Release data/tools/make-corpus.cs -- ../shared/data data/tasks artifacts/corpus data/corpus
using BitDistill.Distill.Data;

if (args.Length != 4)
{
    Console.Error.WriteLine("usage: dotnet run data/tools/make-corpus.cs -- SHARED_DATA_DIR TASKS_DIR CORPUS_OUTPUT_DIR SAMPLE_OUTPUT_DIR");
    return 2;
}
foreach (var line in PretrainingCorpus.WriteAll(args[0], args[1], args[2])) Console.WriteLine(line);
Console.WriteLine($"stage-2 sample: {PretrainingCorpus.WriteSample(args[2], "train", Path.Combine(args[3], "stage2.txt.gz"), 250_000):N0} characters");
foreach (var name in PretrainingCorpus.Names)
    Console.WriteLine($"held-out sample {name}: {PretrainingCorpus.WriteSample(args[2], "valid", Path.Combine(args[3], "heldout", name + ".txt.gz"), 40_000, name):N0} characters");
return 0;
