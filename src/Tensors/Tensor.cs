using System.Text;

namespace BitDistill.Tensors;

/// <summary>An n-dimensional array: a view (shape, strides, offset) over a <see cref="Storage"/>. Views share storage.</summary>
public sealed partial class Tensor
{
    private readonly int[] _shape;
    private readonly int[] _strides;

    /// <summary>Creates a view over a storage. Strides and offset are in elements; a stride may be 0 (broadcast).</summary>
    public Tensor(Storage storage, int[] shape, int[]? strides = null, int offset = 0)
    {
        ArgumentNullException.ThrowIfNull(storage);
        foreach (var d in shape)
            if (d < 0) throw new ArgumentException($"negative dimension in shape {ShapeString(shape)}");
        _shape = (int[])shape.Clone();
        _strides = strides is null ? ContiguousStrides(shape) : (int[])strides.Clone();
        if (_strides.Length != _shape.Length) throw new ArgumentException($"strides rank {_strides.Length} != shape rank {_shape.Length}");
        Storage = storage;
        Offset = offset;
        long count = 1; foreach (var d in _shape) count *= d;
        if (count > int.MaxValue) throw new ArgumentException($"shape {ShapeString(shape)} has more than 2^31-1 elements");
        Count = (int)count;
        if (Count > 0)
        {
            long lo = offset, hi = offset;
            for (int i = 0; i < _shape.Length; i++)
            {
                long span = (long)(_shape[i] - 1) * _strides[i];
                if (span < 0) lo += span; else hi += span;
            }
            if (lo < 0 || hi >= storage.Length)
                throw new ArgumentException($"view shape {ShapeString(shape)} strides {ShapeString(_strides)} offset {offset} exceeds storage of {storage.Length} elements");
        }
    }

    /// <summary>The memory this tensor views.</summary>
    public Storage Storage { get; }
    /// <summary>Offset of element [0,…,0] in the storage, in elements.</summary>
    public int Offset { get; }
    /// <summary>Number of elements.</summary>
    public int Count { get; }
    /// <summary>Element type.</summary>
    public DType DType => Storage.DType;
    /// <summary>The device holding the storage.</summary>
    public Device Device => Storage.Device;
    /// <summary>The backend that runs ops on this tensor.</summary>
    public IBackend Backend => Storage.Device.Backend;
    /// <summary>Number of dimensions.</summary>
    public int Rank => _shape.Length;
    /// <summary>The shape (a copy-free read-only view).</summary>
    public ReadOnlySpan<int> Shape => _shape;
    /// <summary>The strides in elements.</summary>
    public ReadOnlySpan<int> Strides => _strides;
    /// <summary>The shape as a new array.</summary>
    public int[] ShapeArray => (int[])_shape.Clone();
    /// <summary>Size of dimension d (negative d counts from the end).</summary>
    public int Size(int d) => _shape[NormAxis(d)];
    /// <summary>Stride of dimension d (negative d counts from the end).</summary>
    public int Stride(int d) => _strides[NormAxis(d)];

    /// <summary>True when elements are laid out row-major with no gaps starting at Offset.</summary>
    public bool IsContiguous
    {
        get
        {
            if (Count == 0) return true; // no element has an address to be out of order (as PyTorch's is_contiguous)
            int expect = 1;
            for (int i = _shape.Length - 1; i >= 0; i--)
            {
                if (_shape[i] == 1) continue;
                if (_strides[i] != expect) return false;
                expect *= _shape[i];
            }
            return true;
        }
    }

    /// <summary>Row-major strides for a shape.</summary>
    public static int[] ContiguousStrides(ReadOnlySpan<int> shape)
    {
        var s = new int[shape.Length];
        int acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= Math.Max(1, shape[i]); }
        return s;
    }

    /// <summary>Normalises a possibly negative axis, with an error that names the rank.</summary>
    public int NormAxis(int axis)
    {
        int a = axis < 0 ? axis + Rank : axis;
        if ((uint)a >= (uint)Rank) throw new ArgumentOutOfRangeException(nameof(axis), axis, $"axis out of range for a tensor of rank {Rank} (shape {ShapeString(_shape)})");
        return a;
    }

    /// <summary>"[2, 3, 4]".</summary>
    public static string ShapeString(ReadOnlySpan<int> shape)
    {
        var sb = new StringBuilder("[");
        for (int i = 0; i < shape.Length; i++) { if (i > 0) sb.Append(", "); sb.Append(shape[i]); }
        return sb.Append(']').ToString();
    }

    public override string ToString()
    {
        var sb = new StringBuilder($"Tensor({ShapeString(_shape)}, {DType}, {Device}");
        if (Count <= 16 && DType == DType.Float32)
        {
            sb.Append(", [");
            var v = ToArray<float>();
            for (int i = 0; i < v.Length; i++) { if (i > 0) sb.Append(", "); sb.Append(v[i].ToString("G6")); }
            sb.Append(']');
        }
        return sb.Append(')').ToString();
    }
}
