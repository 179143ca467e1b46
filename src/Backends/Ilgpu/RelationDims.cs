namespace BitDistill.Backends.Ilgpu;

/// <summary>The shape of an attention-relation KL as its kernels take it by value: student [Batch, Heads, T, StudentDim],
/// teacher [Batch, Heads, T, TeacherDim], the score scales, and whether a token mask [Batch, T] is bound.</summary>
internal struct RelationDims
{
    public int Batch, Heads, T, StudentDim, TeacherDim, HasMask, WithGrad;
    public float StudentScale, TeacherScale;

    /// <summary>Whether token j of batch row b is padding (excluded as a query and as a key).</summary>
    public readonly bool Padded(ILGPU.ArrayView<float> mask, int b, int j) => HasMask != 0 && mask[b * T + j] == 0;
}
