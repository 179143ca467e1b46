namespace BitDistill.Tensors;

/// <summary>A seeded source of random tensors on the counter-based Philox generator. Each draw advances an offset,
/// so a sequence of draws is reproducible from the seed alone, independent of threads and platform.</summary>
public sealed class Generator(ulong seed)
{
    /// <summary>The seed.</summary>
    public ulong Seed { get; } = seed;
    /// <summary>Philox blocks consumed so far (part of a resumable state).</summary>
    public ulong Offset { get; set; }

    internal ulong Take(int count)
    {
        ulong o = Offset;
        Offset += (ulong)((count + 3) / 4) + 1;
        return o;
    }
}
