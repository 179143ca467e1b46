namespace BitDistill.Models.Tokenization;

/// <summary>Hashes a BPE merge key (left id in the high half, right id in the low half) with a multiplicative mix. The
/// default <c>long.GetHashCode</c> is high ^ low, so every pair with the same XOR of its ids shares a bucket: with
/// Gemma's 514,906 merges over 262,144 ids the chains grew long enough to make encoding about 20× slower than byte-level BPE.</summary>
internal sealed class MergeKeyComparer : IEqualityComparer<long>
{
    /// <summary>The one instance.</summary>
    public static readonly MergeKeyComparer Instance = new();

    public bool Equals(long x, long y) => x == y;

    public int GetHashCode(long key) => (int)((ulong)key * 0x9E3779B97F4A7C15UL >> 32);
}
