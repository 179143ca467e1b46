using System.Text.Json;
using System.Text.Json.Nodes;
using BitDistill.Kernels;
using BitDistill.Tensors;
using BitDistill.Tensors.SafeTensors;

namespace BitDistill.Runtime;

/// <summary>Writes an exported (packed ternary) model: one safetensors container (<see cref="PackedExportInfo.FileName"/>) with
/// each ternary projection as NAME.weight (U8: [N, PaddedCols/4] 2-bit codes for i2, [⌈N·K/5⌉] base-3 bytes for t1.6) and
/// NAME.weight_scale (F32 [1] or [N]), norms and biases as F32, embeddings and lm_head as F16, F32, or I8 with NAME_scale (F32
/// [rows]); and config.json with the <see cref="PackedExportInfo"/> object. Both files are written to a temporary name and renamed.</summary>
public sealed class PackedModelWriter
{
    private readonly List<KeyValuePair<string, Tensor>> _tensors = [];

    /// <summary>A writer for the given format.</summary>
    public PackedModelWriter(PackedExportInfo info) => Info = info ?? throw new ArgumentNullException(nameof(info));

    /// <summary>The format written.</summary>
    public PackedExportInfo Info { get; }
    /// <summary>Bytes of ternary weight data (codes and scales) added so far.</summary>
    public long TernaryBytes { get; private set; }

    /// <summary>Adds a ternary projection <paramref name="name"/> (e.g. model.layers.0.self_attn.q_proj) packed as
    /// <see cref="PackedExportInfo.Packing"/>; its scale granularity must match <see cref="PackedExportInfo.PerRowScales"/>.</summary>
    public void AddTernary(string name, PackedTernaryMatrix w)
    {
        ArgumentNullException.ThrowIfNull(w);
        bool perRow = w.ScaleMode == TernaryScaleMode.PerRow;
        if (perRow != Info.PerRowScales) throw new ArgumentException($"{name}: {w.ScaleMode} scales, but the export declares {(Info.PerRowScales ? "per-row" : "per-tensor")} scales");
        foreach (var s in w.Scales)
            if (!float.IsFinite(s)) throw new ArgumentException($"{name}: weight scale {s} is not finite");
        Tensor data;
        if (Info.Packing == TernaryPacking.I2) data = Tensor.FromArray(w.Data.ToArray(), [w.Rows, w.RowBytes]);
        else
        {
            var q = new sbyte[(long)w.Rows * w.Cols];
            w.UnpackCodes(q);
            var bytes = new byte[TernaryBase3.PackedLength(q.Length)];
            TernaryBase3.Pack(q, bytes);
            data = Tensor.FromArray(bytes, [bytes.Length]);
        }
        Add(name + ".weight", data);
        Add(name + ".weight_scale", Tensor.FromArray(w.Scales.ToArray(), [w.Scales.Length]));
        TernaryBytes += data.Count + 4L * w.Scales.Length;
    }

    /// <summary>Adds a float32 tensor as is (norms, SubLN weights, biases).</summary>
    public void AddFloat(string name, float[] values, int[] shape) => Add(name, Tensor.FromArray(values, shape));

    /// <summary>Adds an embedding table or lm_head [rows, cols] as <paramref name="storage"/> (INT8 also writes NAME_scale).</summary>
    public void AddTable(string name, float[] values, int rows, int cols, TableStorage storage)
    {
        switch (storage)
        {
            case TableStorage.Float32: Add(name, Tensor.FromArray(values, [rows, cols])); break;
            case TableStorage.Float16:
                var h = new Half[values.Length];
                NumericConvert.SingleToHalf(values, h);
                Add(name, Tensor.FromArray(h, [rows, cols]));
                break;
            default:
                var q = new sbyte[values.Length];
                var s = new float[rows];
                Int8RowGemv.Quantize(values, rows, cols, q, s);
                Add(name, Tensor.FromArray(q, [rows, cols]));
                Add(name + "_scale", Tensor.FromArray(s, [rows]));
                break;
        }
    }

    private void Add(string name, Tensor t) => _tensors.Add(new(name, t));

    /// <summary>Writes the container and config.json into <paramref name="folder"/>: <paramref name="config"/> is the model's
    /// config with the training-only "bitnet" and "quantization_config" objects removed and the export object added.</summary>
    public void Write(string folder, JsonObject config)
    {
        ArgumentNullException.ThrowIfNull(config);
        Directory.CreateDirectory(folder);
        SafeTensorsWriter.Write(Path.Combine(folder, PackedExportInfo.FileName), _tensors, Info.Metadata());
        var c = (JsonObject)config.DeepClone();
        c.Remove("bitnet");
        c.Remove("quantization_config"); // both describe the training checkpoint, not the packed file
        c[PackedExportInfo.Field] = Info.ToJson();
        AtomicFile.WriteAllText(Path.Combine(folder, "config.json"), c.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }
}
