namespace BitDistill.Tensors;

public sealed partial class Tensor
{
    /// <summary>Same data with a new shape, without copying; -1 infers one dimension. Throws if the layout does not allow a view.</summary>
    public Tensor View(params int[] shape)
    {
        var newShape = InferShape(shape);
        var strides = ViewStrides(newShape) ?? throw new InvalidOperationException(
            $"view {ShapeString(newShape)} is not possible on a tensor of shape {ShapeString(_shape)} with strides {ShapeString(_strides)}; use Reshape (copies) or Contiguous() first");
        return new Tensor(Storage, newShape, strides, Offset);
    }

    /// <summary>Like <see cref="View"/> but copies when the layout does not allow a view.</summary>
    public Tensor Reshape(params int[] shape)
    {
        var newShape = InferShape(shape);
        var strides = ViewStrides(newShape);
        return strides is null ? Contiguous().View(newShape) : new Tensor(Storage, newShape, strides, Offset);
    }

    private int[] InferShape(int[] shape)
    {
        var s = (int[])shape.Clone();
        int infer = -1; long prod = 1;
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == -1) { if (infer >= 0) throw new ArgumentException("only one dimension can be -1"); infer = i; }
            else if (s[i] < 0) throw new ArgumentException($"invalid dimension {s[i]} in {ShapeString(shape)}");
            else prod *= s[i];
        }
        if (infer >= 0)
        {
            if (prod == 0 || Count % prod != 0) throw new ArgumentException($"cannot infer -1 in {ShapeString(shape)} for {Count} elements (shape {ShapeString(_shape)})");
            s[infer] = (int)(Count / prod);
            prod *= s[infer];
        }
        if (prod != Count) throw new ArgumentException($"shape {ShapeString(shape)} has {prod} elements but the tensor of shape {ShapeString(_shape)} has {Count}");
        return s;
    }

    // PyTorch's computeStride: merges runs of dims that are contiguous with each other.
    private int[]? ViewStrides(int[] newShape)
    {
        var ns = new int[newShape.Length];
        if (Count <= 1) return ContiguousStrides(newShape);
        int viewD = newShape.Length - 1;
        long chunkBase = _strides.Length > 0 ? _strides[^1] : 1;
        long tensorNumel = 1, viewNumel = 1;
        for (int d = _shape.Length - 1; d >= 0; d--)
        {
            tensorNumel *= _shape[d];
            if (d == 0 || (_shape[d - 1] != 1 && _strides[d - 1] != tensorNumel * chunkBase))
            {
                while (viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] == 1))
                {
                    ns[viewD] = (int)(viewNumel * chunkBase);
                    viewNumel *= newShape[viewD];
                    viewD--;
                }
                if (viewNumel != tensorNumel) return null;
                if (d > 0) { chunkBase = _strides[d - 1]; tensorNumel = 1; viewNumel = 1; }
            }
        }
        if (viewD != -1) return null;
        return ns;
    }

    /// <summary>Reorders dimensions (a view).</summary>
    public Tensor Permute(params int[] dims)
    {
        if (dims.Length != Rank) throw new ArgumentException($"permute needs {Rank} dims, got {dims.Length}");
        var seen = new bool[Rank];
        var sh = new int[Rank]; var st = new int[Rank];
        for (int i = 0; i < Rank; i++)
        {
            int d = NormAxis(dims[i]);
            if (seen[d]) throw new ArgumentException($"repeated dim {d} in permute");
            seen[d] = true; sh[i] = _shape[d]; st[i] = _strides[d];
        }
        return new Tensor(Storage, sh, st, Offset);
    }

    /// <summary>Swaps two dimensions (a view).</summary>
    public Tensor Transpose(int d0, int d1)
    {
        d0 = NormAxis(d0); d1 = NormAxis(d1);
        var sh = ShapeArray; var st = (int[])_strides.Clone();
        (sh[d0], sh[d1]) = (sh[d1], sh[d0]);
        (st[d0], st[d1]) = (st[d1], st[d0]);
        return new Tensor(Storage, sh, st, Offset);
    }

    /// <summary>Transpose of the last two dimensions (a view).</summary>
    public Tensor T => Transpose(-2, -1);

    /// <summary>Elements [start, start+length) along an axis (a view).</summary>
    public Tensor Narrow(int axis, int start, int length)
    {
        axis = NormAxis(axis);
        if (start < 0) start += _shape[axis];
        if (start < 0 || length < 0 || start + length > _shape[axis])
            throw new ArgumentOutOfRangeException(nameof(start), $"narrow [{start}, {start + length}) out of range for dim {axis} of size {_shape[axis]}");
        var sh = ShapeArray; sh[axis] = length;
        return new Tensor(Storage, sh, _strides, length == 0 ? Offset : Offset + start * _strides[axis]);
    }

    /// <summary>Python-style slice start:end:step along an axis (a view; step &gt; 0).</summary>
    public Tensor Slice(int axis, int start, int end, int step = 1)
    {
        axis = NormAxis(axis);
        int n = _shape[axis];
        if (step <= 0) throw new ArgumentException("slice step must be positive");
        if (start < 0) start += n; if (end < 0) end += n;
        start = Math.Clamp(start, 0, n); end = Math.Clamp(end, start, n);
        int len = (end - start + step - 1) / step;
        var sh = ShapeArray; sh[axis] = len;
        var st = (int[])_strides.Clone(); st[axis] *= step;
        return new Tensor(Storage, sh, st, len == 0 ? Offset : Offset + start * _strides[axis]);
    }

    /// <summary>Index i along an axis; removes that axis (a view).</summary>
    public Tensor Select(int axis, int index)
    {
        axis = NormAxis(axis);
        if (index < 0) index += _shape[axis];
        if ((uint)index >= (uint)_shape[axis]) throw new ArgumentOutOfRangeException(nameof(index), $"index {index} out of range for dim {axis} of size {_shape[axis]}");
        var sh = new List<int>(_shape); var st = new List<int>(_strides);
        sh.RemoveAt(axis); st.RemoveAt(axis);
        return new Tensor(Storage, sh.ToArray(), st.ToArray(), Offset + index * _strides[axis]);
    }

    /// <summary>Broadcasts size-1 dims (and new leading dims) to a larger shape with zero strides (a view).</summary>
    public Tensor Expand(params int[] shape)
    {
        if (shape.Length < Rank) throw new ArgumentException($"cannot expand shape {ShapeString(_shape)} to fewer dims {ShapeString(shape)}");
        var sh = new int[shape.Length]; var st = new int[shape.Length];
        int lead = shape.Length - Rank;
        for (int i = 0; i < shape.Length; i++)
        {
            if (i < lead) { sh[i] = shape[i]; st[i] = 0; continue; }
            int src = _shape[i - lead];
            int want = shape[i] == -1 ? src : shape[i];
            if (src == want) { sh[i] = src; st[i] = _strides[i - lead]; }
            else if (src == 1) { sh[i] = want; st[i] = 0; }
            else throw new ArgumentException($"cannot expand shape {ShapeString(_shape)} to {ShapeString(shape)}");
        }
        return new Tensor(Storage, sh, st, Offset);
    }

    /// <summary>Inserts a size-1 dimension at axis (a view).</summary>
    public Tensor Unsqueeze(int axis)
    {
        if (axis < 0) axis += Rank + 1;
        if ((uint)axis > (uint)Rank) throw new ArgumentOutOfRangeException(nameof(axis));
        var sh = new List<int>(_shape); var st = new List<int>(_strides);
        sh.Insert(axis, 1);
        st.Insert(axis, axis < Rank ? _strides[axis] * _shape[axis] : 1);
        return new Tensor(Storage, sh.ToArray(), st.ToArray(), Offset);
    }

    /// <summary>Removes one size-1 axis, or all of them when axis is null (a view).</summary>
    public Tensor Squeeze(int? axis = null)
    {
        var sh = new List<int>(); var st = new List<int>();
        int only = axis is { } a ? NormAxis(a) : -1;
        if (only >= 0 && _shape[only] != 1) throw new ArgumentException($"cannot squeeze dim {only} of size {_shape[only]}");
        for (int i = 0; i < Rank; i++)
        {
            if (_shape[i] == 1 && (only < 0 || only == i)) continue;
            sh.Add(_shape[i]); st.Add(_strides[i]);
        }
        return new Tensor(Storage, sh.ToArray(), st.ToArray(), Offset);
    }

    /// <summary>Collapses dims [start, end] into one (a view when possible, else a copy).</summary>
    public Tensor Flatten(int start = 0, int end = -1)
    {
        if (Rank == 0) return Reshape(1);
        start = NormAxis(start); end = NormAxis(end);
        var sh = new List<int>();
        for (int i = 0; i < start; i++) sh.Add(_shape[i]);
        int p = 1; for (int i = start; i <= end; i++) p *= _shape[i];
        sh.Add(p);
        for (int i = end + 1; i < Rank; i++) sh.Add(_shape[i]);
        return Reshape(sh.ToArray());
    }

    /// <summary>This tensor if contiguous, else a contiguous copy.</summary>
    public Tensor Contiguous() => IsContiguous ? this : Clone();

    /// <summary>A contiguous copy on the same device.</summary>
    public Tensor Clone()
    {
        var t = Count == 0 ? Empty(_shape, DType, Device) : Uninitialized(_shape, DType, Device); // the copy writes every element
        Backend.Copy(this, t);
        return t;
    }

    /// <summary>A contiguous copy converted to another dtype (round to nearest even for bf16/f16).</summary>
    public Tensor To(DType dtype)
    {
        if (dtype == DType) return this;
        var t = Empty(_shape, dtype, Device);
        Backend.Copy(this, t);
        return t;
    }

    /// <summary>A copy on another device (same dtype).</summary>
    public Tensor To(Device device)
    {
        if (device == Device) return this;
        var src = Contiguous();
        var t = Empty(_shape, DType, device);
        var host = new byte[(long)Count * DType.SizeOf()];
        src.Backend.CopyToHost(src, host);
        t.Backend.CopyFromHost(host, t);
        return t;
    }

    /// <summary>Copies the values of src (broadcast to this shape, any dtype) into this view in place.</summary>
    public void CopyFrom(Tensor src)
    {
        var s = src.Rank == Rank && src.Shape.SequenceEqual(Shape) ? src : src.Expand(_shape);
        if (s.Device != Device) s = s.To(Device);
        Backend.Copy(s, this);
    }

    /// <summary>Sets every element of this view.</summary>
    public void Fill(double value) => Backend.Fill(this, value);
}
