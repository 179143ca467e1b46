using BitDistill.Tensors;

namespace BitDistill.Autograd.Ops;

/// <summary>The targets of a cross-entropy over <c>classes</c> classes as Int64 on the host, checked: each is the ignore
/// index or in [0, classes); also how many count.</summary>
internal static class CrossEntropyTargets
{
    public static (long[] Targets, int Valid) Read(Tensor targets, int classes, long ignoreIndex)
    {
        var t = (targets.DType == DType.Int64 ? targets : targets.To(DType.Int64)).ToArray<long>();
        int valid = 0;
        for (int i = 0; i < t.Length; i++)
        {
            if (t[i] == ignoreIndex) continue;
            if ((ulong)t[i] >= (ulong)classes) throw new ArgumentOutOfRangeException(nameof(targets), $"target {t[i]} at row {i} is outside [0, {classes}) and is not the ignore index {ignoreIndex}");
            valid++;
        }
        return (t, valid);
    }
}
