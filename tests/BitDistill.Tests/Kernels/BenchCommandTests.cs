namespace BitDistill.Tests;

/// <summary>The `bitdistill bench` verb: name and options parse.</summary>
public class BenchCommandTests
{
    [Fact]
    public void BenchOptionsParse()
    {
        var cmd = BitDistill.Cli.BenchCommand.Create();
        Assert.Equal("bench", cmd.Name);
        Assert.Contains(cmd.Options, o => o.Name == "--threads");
        Assert.Contains(cmd.Options, o => o.Name == "--quick");
        var parse = cmd.Parse("--threads 1,2 --quick");
        Assert.Empty(parse.Errors);
    }
}
