using BitDistill.Distill.Data;
using BitDistill.Models.Tokenization;

namespace BitDistill.Tests.Distill;

/// <summary>The three tasks in data/tasks load with the documented row counts and label balance, tokenise within limits, and
/// (where ../shared/data exists) regenerate to the same rows. Serial: these are CPU-heavy (tokenising every task, parsing
/// 64 k Debian records) and would disturb the allocation measurements of tests that run in parallel.</summary>
[Collection(SerialCollection.Name)]
public sealed class ShippedTaskTests
{
    private static readonly string DataDir = Path.Combine(AppContext.BaseDirectory, "data");

    [Theory]
    [InlineData("sentiment", 1586, 400, "negative=795/200,positive=791/200")]
    [InlineData("debian-match", 1000, 300, "no=500/150,yes=500/150")]
    [InlineData("debian-summary", 800, 200, "")]
    public void ShippedTaskLoadsWithItsRowCountsAndLabelBalance(string name, int trainFile, int test, string balance)
    {
        var t = TaskData.Load(ShippedTasks.Options(DataDir, name, seed: 5));
        Assert.Equal(trainFile, t.Train.Count + t.Validation.Count);
        Assert.Equal(test, t.Test.Count);
        Assert.InRange(t.Validation.Count, trainFile / 10 - 2, trainFile / 10 + 2);
        Assert.All(t.Duplicates, d => Assert.Equal(0, d.Count));
        if (balance.Length > 0)
        {
            var expected = balance.Split(',').Select(p => p.Split('=')).ToDictionary(p => p[0], p => p[1]);
            Assert.Equal(expected.Keys.Order(), t.Labels);
            for (int i = 0; i < t.Labels.Count; i++)
            {
                int trainCount = t.LabelCounts(t.Train)[i] + t.LabelCounts(t.Validation)[i];
                Assert.Equal(expected[t.Labels[i]], $"{trainCount}/{t.LabelCounts(t.Test)[i]}");
            }
        }
        else Assert.Empty(t.Labels);
    }

    [Fact]
    public void DebianMatchIsASentencePairTaskWithHardNegatives()
    {
        var f = TaskFile.Read(Path.Combine(DataDir, "tasks", "debian-match", "train.jsonl.gz"), TaskKind.Classification);
        Assert.Equal("text pair", f.Layout);
        Assert.All(f.Rows, r => Assert.NotNull(r.TextPair));
        var table = TableReader.Open(Path.Combine(DataDir, "tasks", "debian-match", "train.jsonl.gz")).ReadRows().ToArray();
        int hard = table.Count(r => r.Values["negative"]!.StartsWith("hard:", StringComparison.Ordinal));
        Assert.InRange(hard, 150, 350);
        foreach (var r in table.Where(r => r.Values["negative"]!.StartsWith("hard:", StringComparison.Ordinal)))
            Assert.Equal(r.Values["package"]![..3], r.Values["negative"]!["hard:".Length..][..3]);
    }

    [Fact]
    public void ShippedTasksTokeniseWithTheEmbeddedTokenizerAndClassLabelWordsAreDistinct()
    {
        var tok = TextTokenizer.Load(Path.Combine(DataDir, "tokenizer"));
        foreach (var name in ShippedTasks.Names)
        {
            var t = TaskData.Load(ShippedTasks.Options(DataDir, name));
            var enc = TaskEncoder.For(t, tok, 256);
            var encoded = enc.EncodeAll(t.Test);
            Assert.All(encoded.Rows, e => Assert.True(e.Length <= 256));
            if (t.Kind == TaskKind.Classification) Assert.Equal(t.Labels.Count, enc.LabelTokenIds.Distinct().Count());
        }
    }

    [Fact]
    public void GeneratorReproducesTheCommittedRowsFromSharedData()
    {
        var shared = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../../shared/data"));
        if (!Directory.Exists(shared)) return;   // a fresh clone has no ../shared; the development machines do
        var dir = Directory.CreateTempSubdirectory();
        try
        {
            ShippedTasks.WriteAll(shared, dir.FullName);
            foreach (var name in ShippedTasks.Names)
                foreach (var split in new[] { "train", "test" })
                {
                    var file = Path.Combine(name, split + ".jsonl.gz");
                    Assert.Equal(Lines(Path.Combine(DataDir, "tasks", file)), Lines(Path.Combine(dir.FullName, file)));
                }
        }
        finally { dir.Delete(true); }
    }

    private static List<string> Lines(string path)
    {
        using var r = TableReader.OpenText(path);
        var lines = new List<string>();
        while (r.ReadLine() is { } l) lines.Add(l);
        return lines;
    }
}
