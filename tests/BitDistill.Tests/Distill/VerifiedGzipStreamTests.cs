using System.IO.Compression;
using System.Text;
using BitDistill.Distill.Data;

namespace BitDistill.Tests.Distill;

/// <summary>A truncated .gz corpus is an error naming the file, not a silently shorter corpus.</summary>
public sealed class VerifiedGzipStreamTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bitdistill-gz").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        using (var f = File.Create(path))
        using (var gz = new GZipStream(f, CompressionLevel.Optimal))
            gz.Write(Encoding.UTF8.GetBytes(text));
        return path;
    }

    [Fact]
    public void ACompleteFileReadsWhole()
    {
        var text = string.Join("\n\n", Enumerable.Range(0, 2000).Select(i => $"paragraph {i} about {i * 7919 % 1000}"));
        var path = Write("ok.txt.gz", text);
        Assert.Equal(2000, TextCorpus.ReadDocuments(path).Count());
    }

    [Fact]
    public void ATruncatedFileIsAnErrorNamingIt()
    {
        var text = string.Join("\n\n", Enumerable.Range(0, 5000).Select(i => $"paragraph {i} about {i * 7919 % 1000}"));
        var path = Write("cut.txt.gz", text);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length * 6 / 10)]);
        var e = Assert.Throws<InvalidDataException>(() => TextCorpus.ReadDocuments(path).Count());
        Assert.Contains(path, e.Message);
        File.WriteAllBytes(path, bytes[..10]);
        Assert.Contains("too short", Assert.Throws<InvalidDataException>(() => TextCorpus.ReadDocuments(path).Count()).Message);
    }
}
