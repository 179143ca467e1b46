using BitDistill.Cli;

namespace BitDistill.Tests.Cli;

/// <summary>No verb overwrites its input or someone else's folder, and two runs never write one folder at once.</summary>
[Collection(SerialCollection.Name)]
public sealed class OutputFolderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bitdistill-out").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void TheInputCannotBeTheOutput()
    {
        var model = Path.Combine(_dir, "model");
        Directory.CreateDirectory(model);
        File.WriteAllText(Path.Combine(model, "config.json"), "{}");
        Assert.Contains("would overwrite the input", Assert.Throws<UsageException>(() => OutputFolder.Claim("quantize", model, overwrite: true, model)).Message);
        Assert.Contains("would overwrite the input", Assert.Throws<UsageException>(() => OutputFolder.Claim("quantize", _dir, overwrite: true, Path.Combine(model, "config.json"))).Message);
        Assert.Equal("{}", File.ReadAllText(Path.Combine(model, "config.json")));
    }

    [Fact]
    public void AForeignNonEmptyFolderNeedsOverwriteButTheVerbsOwnOutputResumes()
    {
        var foreign = Path.Combine(_dir, "foreign");
        Directory.CreateDirectory(foreign);
        File.WriteAllText(Path.Combine(foreign, "notes.txt"), "mine");
        Assert.Contains("--overwrite", Assert.Throws<UsageException>(() => OutputFolder.Claim("pretrain", foreign, overwrite: false)).Message);
        using (OutputFolder.Claim("pretrain", foreign, overwrite: true)) { }
        File.WriteAllText(Path.Combine(foreign, "model.safetensors"), "x");
        using (OutputFolder.Claim("pretrain", foreign, overwrite: false)) { } // its own previous output: resumes
        Assert.Throws<UsageException>(() => OutputFolder.Claim("quantize", foreign, overwrite: false)); // another verb's
    }

    [Fact]
    public void ASecondWriterIsRefusedWhileTheFirstHoldsTheFolder()
    {
        var o = Path.Combine(_dir, "run");
        using (OutputFolder.Claim("pretrain", o, overwrite: false))
            Assert.Contains("another bitdistill process", Assert.Throws<UsageException>(() => OutputFolder.Claim("pretrain", o, overwrite: false)).Message);
        using (OutputFolder.Claim("pretrain", o, overwrite: false)) { }
        Assert.False(File.Exists(Path.Combine(o, OutputFolder.LockName)));
    }

    [Fact]
    public void EveryRefusalNamesTheVerbsOwnOption()
    {
        var f = Path.Combine(_dir, "file");
        File.WriteAllText(f, "");
        var foreign = Path.Combine(_dir, "foreign");
        Directory.CreateDirectory(foreign);
        File.WriteAllText(Path.Combine(foreign, "notes.txt"), "mine");
        foreach (var e in new[]
                 {
                     Assert.Throws<UsageException>(() => OutputFolder.Claim("compare", "--report", f, overwrite: true)),
                     Assert.Throws<UsageException>(() => OutputFolder.Claim("compare", "--report", foreign, overwrite: false)),
                     Assert.Throws<UsageException>(() => OutputFolder.Claim("compare", "--report", _dir, overwrite: true, foreign)),
                     Assert.Throws<UsageException>(() => OutputFolder.Claim("compare", "--report", " ", overwrite: true)),
                 })
        {
            Assert.Contains("--report", e.Message);
            Assert.DoesNotContain("--output", e.Message);
        }
    }

    [Fact]
    public void CompareNamesReportWhenItsFolderIsRefused()
    {
        var f = Path.Combine(_dir, "file");
        File.WriteAllText(f, "");
        var train = Path.Combine(AppContext.BaseDirectory, "data", "tasks", "sentiment", "train.jsonl.gz");
        var (code, _, err) = CliRunner.Run("compare", "--task", "classify", "--train", train, "--report", f);
        Assert.Equal(2, code);
        Assert.Contains("--report", err);
        Assert.DoesNotContain("--output", err);
    }

    [Fact]
    public void AFileIsNotAnOutputFolder()
    {
        var f = Path.Combine(_dir, "file");
        File.WriteAllText(f, "");
        Assert.Contains("is a file", Assert.Throws<UsageException>(() => OutputFolder.Claim("pretrain", f, overwrite: true)).Message);
    }
}
