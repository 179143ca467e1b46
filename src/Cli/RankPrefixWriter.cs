using System.Text;

namespace BitDistill.Cli;

/// <summary>stderr of an MPI rank other than 0: each line starts with "[rank N] ", so a message a rank prints alone can be
/// told apart from the root's.</summary>
internal sealed class RankPrefixWriter(TextWriter inner, int rank) : TextWriter
{
    private bool _lineStart = true;

    public override Encoding Encoding => inner.Encoding;

    public override void Write(char value)
    {
        if (_lineStart) inner.Write($"[rank {rank}] ");
        inner.Write(value);
        _lineStart = value == '\n';
    }

    public override void Write(string? value)
    {
        foreach (char c in value ?? "") Write(c);
    }

    public override void Flush() => inner.Flush();
}
