using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;
using BitDistill.Distill.Data;

namespace BitDistill.Tests.Distill;

/// <summary>The base model's pretraining corpus derivation on a miniature copy of ../shared/data: Brown's tags are stripped
/// with English spacing restored, every task package is left out of the Debian text, train and held-out parts partition the
/// documents, the manifest records sources and outputs, and a second run writes the same text.</summary>
public sealed class PretrainingCorpusTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bitdistill-corpus").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static void Tar(string path, params (string Name, string Text)[] files)
    {
        using var fs = File.Create(path);
        using var gz = new GZipStream(fs, CompressionLevel.Fastest);
        using var tar = new TarWriter(gz, TarEntryFormat.Pax);
        foreach (var (name, text) in files)
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "./" + name) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(text)) });
    }

    private static void Gz(string path, string text)
    {
        using var fs = File.Create(path);
        using var gz = new GZipStream(fs, CompressionLevel.Fastest);
        gz.Write(Encoding.UTF8.GetBytes(text));
    }

    private string MakeShared()
    {
        var shared = Path.Combine(_dir, "shared");
        Directory.CreateDirectory(Path.Combine(shared, "corpus"));
        Directory.CreateDirectory(Path.Combine(shared, "summarization"));
        var brown = Enumerable.Range(1, 40).Select(i => ($"ca{i:D2}", $"\n\n\tThe/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' was/bedz found/vbn ,/, doc/nn {i}/cd ./.\n\n\tIt/pps did/dod n't/* end/vb ./.\n")).ToList();
        brown.Add(("cats.txt", "ca01 news\n"));
        Tar(Path.Combine(shared, "corpus", "brown.tar.gz"), brown.ToArray());
        Tar(Path.Combine(shared, "corpus", "sotu.tar.gz"), Enumerable.Range(0, 30).Select(i => ($"{1900 + i}_someone_r.txt", $"Address number {i} to the Congress.\n\nSecond paragraph of address {i}.\n")).ToArray());
        Gz(Path.Combine(shared, "corpus", "janeausten.json.gz"),
            new JsonObject { ["emma"] = new JsonArray(Enumerable.Range(0, 40).SelectMany(i => new JsonNode?[] { $"Line one of {i}", $"line two of {i}", "" }).ToArray()) }.ToJsonString());
        var debian = new StringBuilder();
        foreach (var i in Enumerable.Range(0, 60))
            debian.Append($"Package: pkg-{i}\nDescription-md5: 0\nDescription-en: summary of package {i}\n long description of package {i}\n .\n second paragraph\n\n");
        Gz(Path.Combine(shared, "summarization", "debian-descriptions.txt.gz"), debian.ToString());
        var tasks = Path.Combine(_dir, "tasks", "t");
        Directory.CreateDirectory(tasks);
        Gz(Path.Combine(tasks, "test.jsonl.gz"), "{\"document\": \"x\", \"summary\": \"y\", \"package\": \"pkg-3\"}\n{\"text\": \"z\", \"label\": \"no\", \"package\": \"pkg-4\", \"negative\": \"hard:pkg-5\"}\n");
        return shared;
    }

    private static string Text(string path) => string.Join("\n", TextCorpus.ReadDocuments(path));

    [Fact]
    public void TheCorpusIsDerivedWithoutTaskPackagesAndWithDisjointHeldOutParts()
    {
        var shared = MakeShared();
        var outDir = Path.Combine(_dir, "out");
        var lines = PretrainingCorpus.WriteAll(shared, Path.Combine(_dir, "tasks"), outDir, heldOut: 0.2);
        Assert.Equal(4, lines.Count);

        var brown = TextCorpus.ReadDocuments(Path.Combine(outDir, "brown.train.txt.gz")).Concat(TextCorpus.ReadDocuments(Path.Combine(outDir, "brown.valid.txt.gz"))).ToArray();
        Assert.Equal(40, brown.Length); // cats.txt is not a text
        Assert.Contains("The jury said \"no evidence\" was found, doc 7. It didn't end.", brown);

        var debian = Text(Path.Combine(outDir, "debian.train.txt.gz")) + Text(Path.Combine(outDir, "debian.valid.txt.gz"));
        foreach (var excluded in new[] { 3, 4, 5 }) Assert.DoesNotContain($"package {excluded}\n", debian);
        Assert.Contains("summary of package 6\nlong description of package 6\nsecond paragraph", debian);

        // train and held-out partition every corpus, and both parts are non-empty
        foreach (var (name, total) in new[] { ("brown", 40), ("sotu", 30), ("austen", 40), ("debian", 57) })
        {
            var train = TextCorpus.ReadDocuments(Path.Combine(outDir, $"{name}.train.txt.gz")).ToArray();
            var valid = TextCorpus.ReadDocuments(Path.Combine(outDir, $"{name}.valid.txt.gz")).ToArray();
            Assert.Equal(total, train.Length + valid.Length);
            Assert.NotEmpty(train);
            Assert.NotEmpty(valid);
            Assert.Empty(train.Intersect(valid));
        }
        // Austen holds out the end of each novel
        Assert.Contains("Line one of 39 line two of 39", Text(Path.Combine(outDir, "austen.valid.txt.gz")));

        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "manifest.json")))!;
        Assert.Equal(4, manifest["sources"]!.AsArray().Count);
        Assert.All(manifest["sources"]!.AsArray(), s => Assert.Equal(64, s!["sha256"]!.GetValue<string>().Length));
        Assert.Equal(8, manifest["outputs"]!.AsArray().Count);
        Assert.Equal(3, manifest["excluded_task_packages"]!.GetValue<int>());

        // deterministic: a second run writes the same text
        var again = Path.Combine(_dir, "again");
        PretrainingCorpus.WriteAll(shared, Path.Combine(_dir, "tasks"), again, heldOut: 0.2);
        foreach (var f in Directory.GetFiles(outDir, "*.gz"))
            Assert.Equal(Text(f), Text(Path.Combine(again, Path.GetFileName(f))));
        Assert.Equal(manifest["outputs"]!.ToJsonString(), JsonNode.Parse(File.ReadAllText(Path.Combine(again, "manifest.json")))!["outputs"]!.ToJsonString());

        // samples draw whole paragraphs up to the budget, from the part asked for
        var sample = Path.Combine(_dir, "sample.txt.gz");
        long chars = PretrainingCorpus.WriteSample(outDir, "valid", sample, 60, "sotu");
        Assert.InRange(chars, 60, 200);
        var validSotu = Text(Path.Combine(outDir, "sotu.valid.txt.gz"));
        Assert.All(TextCorpus.ReadDocuments(sample), d => Assert.Contains(d, validSotu));
    }

    [Fact]
    public void AMissingSourceIsNamed()
    {
        var e = Assert.Throws<FileNotFoundException>(() => PretrainingCorpus.WriteAll(_dir, _dir, Path.Combine(_dir, "o")));
        Assert.Contains("brown.tar.gz", e.Message);
    }
}
