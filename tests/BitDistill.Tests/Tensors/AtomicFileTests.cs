using BitDistill.Tensors;

namespace BitDistill.Tests.Tensors;

/// <summary><see cref="AtomicFile"/>: the target gets the whole content or keeps its old one, no temporary file is left
/// behind, missing folders are created, and a writer given the temporary path sees the target's extension.</summary>
public class AtomicFileTests
{
    [Fact]
    public void AFailedWriteKeepsTheOldFileAndLeavesNoTemporaryFile()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"atomic-{Guid.NewGuid():N}");
        try
        {
            var path = Path.Combine(dir, "sub", "report.json");
            AtomicFile.WriteAllText(path, "{\"a\": 1}");
            Assert.Equal("{\"a\": 1}", File.ReadAllText(path));
            Assert.Throws<IOException>(() => AtomicFile.Write(path, tmp => { File.WriteAllText(tmp, "partial"); throw new IOException("disk full"); }));
            Assert.Equal("{\"a\": 1}", File.ReadAllText(path));
            string? seen = null;
            AtomicFile.Write(Path.Combine(dir, "plot.png"), tmp => { seen = tmp; File.WriteAllBytes(tmp, [1, 2, 3]); });
            Assert.EndsWith(".png", seen);
            Assert.Equal([1, 2, 3], File.ReadAllBytes(Path.Combine(dir, "plot.png")));
            AtomicFile.WriteAllBytes(path, [7]);
            Assert.Equal([7], File.ReadAllBytes(path));
            Assert.Equal(["plot.png", "sub/report.json"], Directory.GetFiles(dir, "*", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(dir, f).Replace('\\', '/')).Order());
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }
}
