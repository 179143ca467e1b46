using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using BitDistill.Kernels;
using BitDistill.Tensors;
using BitDistill.Tensors.SafeTensors;

namespace BitDistill.Tests.Tensors;

/// <summary>safetensors: bit-exact round trips, sharded checkpoints, a file written by PyTorch, and every malformed case.</summary>
public sealed class SafeTensorsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bitdistill-st-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string PathIn(string name) => Path.Combine(_dir, name);

    // ------------------------------------------------------------------ helpers

    /// <summary>A tensor of the given dtype holding edge values plus a counting pattern, built from raw bytes.</summary>
    private static Tensor Sample(DType dtype, int[] shape)
    {
        int n = shape.Aggregate(1, (a, b) => a * b);
        var t = Tensor.Empty(shape, dtype);
        var bytes = ((ManagedStorage)t.Storage).AsBytes();
        var rng = new Random((int)dtype * 7919 + n);
        rng.NextBytes(bytes);
        switch (dtype)
        {
            case DType.Float32:
                uint[] f32 = [0x7FC0_0001, 0xFF80_0000, 0x8000_0000, 0x0000_0001, 0x7F7F_FFFF];
                for (int i = 0; i < Math.Min(n, f32.Length); i++) MemoryMarshal.Cast<byte, uint>(bytes)[i] = f32[i];
                break;
            case DType.Float16:
            case DType.BFloat16:
                ushort[] h = [0x7E01, 0xFC00, 0x8000, 0x0001, 0x7BFF];
                for (int i = 0; i < Math.Min(n, h.Length); i++) MemoryMarshal.Cast<byte, ushort>(bytes)[i] = h[i];
                break;
            case DType.Bool:
                for (int i = 0; i < bytes.Length; i++) bytes[i] &= 1;
                break;
        }
        return t;
    }

    private static byte[] RawBytes(Tensor t)
    {
        var c = t.Contiguous();
        int sz = c.DType.SizeOf();
        return ((ManagedStorage)c.Storage).AsBytes().Slice(c.Offset * sz, c.Count * sz).ToArray();
    }

    /// <summary>Writes a file by hand: 8-byte length, header text (not padded unless the caller pads), data.</summary>
    private string Craft(string name, string header, byte[]? data = null, ulong? headerLength = null)
    {
        var h = Encoding.UTF8.GetBytes(header);
        return Craft(name, h, data, headerLength);
    }

    private string Craft(string name, byte[] header, byte[]? data = null, ulong? headerLength = null)
    {
        var path = PathIn(name);
        using var fs = File.Create(path);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, headerLength ?? (ulong)header.Length);
        fs.Write(len);
        fs.Write(header);
        if (data is not null) fs.Write(data);
        return path;
    }

    private static SafeTensorsFormatException AssertMalformed(string path, string? tensor = null)
    {
        var ex = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Open(path).Dispose());
        Assert.Contains(path, ex.Message);
        Assert.Equal(path, ex.FilePath);
        if (tensor is not null)
        {
            Assert.Contains($"'{tensor}'", ex.Message);
            Assert.Equal(tensor, ex.TensorName);
        }
        return ex;
    }

    // ------------------------------------------------------------------ round trips

    public static TheoryData<DType> AllDTypes() => new(Enum.GetValues<DType>());

    [Theory, MemberData(nameof(AllDTypes))]
    public void RoundTripEveryDTypeBitExact(DType dtype)
    {
        var a = Sample(dtype, [3, 5, 7]);
        var b = Sample(dtype, [1]);
        var scalar = Sample(dtype, []);
        var empty = Tensor.Empty([0, 4], dtype);
        var path = PathIn("rt.safetensors");
        SafeTensorsWriter.Write(path, new Dictionary<string, Tensor> { ["a"] = a, ["b.weight"] = b, ["scalar"] = scalar, ["empty"] = empty });
        Assert.False(File.Exists(path + ".tmp"));

        using var f = SafeTensorsFile.Open(path);
        Assert.Equal(["a", "b.weight", "empty", "scalar"], f.Names.Order(StringComparer.Ordinal));
        foreach (var (name, expected) in new[] { ("a", a), ("b.weight", b), ("scalar", scalar), ("empty", empty) })
        {
            var e = f.Entry(name);
            Assert.Equal(dtype, e.DType);
            Assert.Equal(expected.ShapeArray.Select(d => (long)d), e.Shape);
            Assert.Equal((long)expected.Count * dtype.SizeOf(), e.ByteLength);
            var loaded = f.Load(name);
            Assert.Equal(dtype, loaded.DType);
            Assert.Equal(expected.ShapeArray, loaded.ShapeArray);
            Assert.True(loaded.IsContiguous);
            Assert.Equal(RawBytes(expected), RawBytes(loaded));
            Assert.Equal(RawBytes(expected), f.ReadRaw(name));
        }
        // The header is padded so the data region starts 8-byte aligned.
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(0UL, (BinaryPrimitives.ReadUInt64LittleEndian(bytes) + 8) % 8);
    }

    [Fact]
    public void RoundTripIsDeterministicSortedByName()
    {
        var x = Sample(DType.Float32, [4]); var y = Sample(DType.Int64, [2]);
        var p1 = PathIn("d1.safetensors"); var p2 = PathIn("d2.safetensors");
        SafeTensorsWriter.Write(p1, [new("z", x), new("a", y)]);
        SafeTensorsWriter.Write(p2, [new("a", y), new("z", x)]);
        Assert.Equal(File.ReadAllBytes(p1), File.ReadAllBytes(p2));
        using var f = SafeTensorsFile.Open(p1);
        Assert.Equal(["a", "z"], f.Names);
    }

    [Fact]
    public void MetadataRoundTrips()
    {
        var meta = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcødé \"quoted\" +<>&", ["empty"] = "" };
        var path = PathIn("meta.safetensors");
        SafeTensorsWriter.Write(path, [new("w", Sample(DType.Float32, [2]))], meta);
        using var f = SafeTensorsFile.Open(path);
        Assert.Equal(meta.OrderBy(kv => kv.Key), f.Metadata.OrderBy(kv => kv.Key));

        var none = PathIn("nometa.safetensors");
        SafeTensorsWriter.Write(none, [new("w", Sample(DType.Float32, [2]))]);
        using var g = SafeTensorsFile.Open(none);
        Assert.Empty(g.Metadata);
    }

    [Fact]
    public void NonContiguousInputsAreWrittenRowMajor()
    {
        var data = Enumerable.Range(0, 24).Select(i => (float)i).ToArray();
        var baseT = Tensor.Wrap(data, [2, 3, 4]);
        var transposed = baseT.Transpose(0, 2);                 // [4, 3, 2]
        var stepped = baseT.Slice(2, 1, 4, 2);                  // [2, 3, 2], inner stride 2
        var narrowed = baseT.Narrow(1, 1, 2);                   // inner rows contiguous, outer gaps
        var expanded = Tensor.Wrap(new long[] { 7, 8, 9 }, [1, 3]).Expand(4, 3); // zero stride
        var path = PathIn("views.safetensors");
        SafeTensorsWriter.Write(path, new Dictionary<string, Tensor> { ["t"] = transposed, ["s"] = stepped, ["n"] = narrowed, ["e"] = expanded });

        float At(int i, int j, int k) => data[i * 12 + j * 4 + k];
        using var f = SafeTensorsFile.Open(path);
        var t = f.Load("t"); Assert.Equal([4, 3, 2], t.ShapeArray);
        var expectedT = new List<float>();
        for (int k = 0; k < 4; k++) for (int j = 0; j < 3; j++) for (int i = 0; i < 2; i++) expectedT.Add(At(i, j, k));
        Assert.Equal(expectedT, t.ToArray<float>());

        var expectedS = new List<float>();
        for (int i = 0; i < 2; i++) for (int j = 0; j < 3; j++) foreach (int k in new[] { 1, 3 }) expectedS.Add(At(i, j, k));
        Assert.Equal(expectedS, f.Load("s").ToArray<float>());

        var expectedN = new List<float>();
        for (int i = 0; i < 2; i++) for (int j = 1; j < 3; j++) for (int k = 0; k < 4; k++) expectedN.Add(At(i, j, k));
        Assert.Equal(expectedN, f.Load("n").ToArray<float>());

        Assert.Equal(Enumerable.Repeat(new long[] { 7, 8, 9 }, 4).SelectMany(x => x), f.Load("e").ToArray<long>());
    }

    [Fact]
    public void LoadConvertsBetweenFloatTypes()
    {
        var values = new float[] { 1f, -0.1f, 65504f, 1e-6f, float.PositiveInfinity, 3.3e38f, 1.00390625f, 1.01171875f };
        var bf = new ushort[values.Length]; NumericConvert.SingleToBFloat16Reference(values, bf);
        var path = PathIn("conv.safetensors");
        SafeTensorsWriter.Write(path, [new("f32", Tensor.FromArray(values, [values.Length])), new("bf16", Tensor.FromArray(bf, [values.Length]))]);
        using var f = SafeTensorsFile.Open(path);

        var asBf = f.Load("f32", DType.BFloat16);
        Assert.Equal(DType.BFloat16, asBf.DType);
        Assert.Equal(bf, asBf.ToArray<ushort>());

        var asF16 = f.Load("f32", DType.Float16).ToArray<Half>();
        Assert.Equal(values.Select(v => (Half)v), asF16);

        var back = f.Load("bf16", DType.Float32).ToArray<float>();
        Assert.Equal(bf.Select(b => BitConverter.UInt32BitsToSingle((uint)b << 16)), back);

        var bfToHalf = f.Load("bf16", DType.Float16).ToArray<Half>();
        Assert.Equal(back.Select(v => (Half)v), bfToHalf);

        Assert.Throws<NotSupportedException>(() => f.Load("f32", DType.Int32));
        var missing = Assert.Throws<KeyNotFoundException>(() => f.Load("nope"));
        Assert.Contains("nope", missing.Message); Assert.Contains(path, missing.Message);
    }

    // Address of element [0, …] of a tensor on managed storage.
    private static unsafe nint Address(Tensor t) =>
        (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(((ManagedStorage)t.Storage).Array)) + (nint)t.Offset * t.DType.SizeOf();

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float16)]
    [InlineData(DType.BFloat16)]
    [InlineData(DType.Int8)]
    [InlineData(DType.UInt8)]
    public void LoadAlignedGivesTheLoadedTensorAt64ByteAlignedMemory(DType dtype)
    {
        var path = PathIn("aligned.safetensors");
        var tensors = new[] { ("a", Sample(dtype, [7, 13])), ("b", Sample(dtype, [3])), ("c", Sample(dtype, [5, 1, 9])) };
        SafeTensorsWriter.Write(path, tensors.ToDictionary(t => t.Item1, t => t.Item2));
        using var f = SafeTensorsFile.Open(path);
        foreach (var (name, expected) in tensors)
        {
            var t = f.LoadAligned(name);
            Assert.Equal(dtype, t.DType);
            Assert.Equal(expected.ShapeArray, t.ShapeArray);
            Assert.True(t.IsContiguous);
            Assert.Equal(0, Address(t) % 64);
            Assert.Equal(RawBytes(expected), RawBytes(t));
        }
        if (dtype != DType.Float16) return;
        var widened = f.LoadAligned("a", DType.Float32);
        Assert.Equal(0, Address(widened) % 64);
        Assert.Equal(f.Load("a", DType.Float32).ToArray<float>(), widened.ToArray<float>());
        Assert.Throws<NotSupportedException>(() => f.LoadAligned("a", DType.Int32));
    }

    [Fact]
    public void LoadBoolBytesOtherThanOneBecomeTrue()
    {
        var path = Craft("bools.safetensors", Header("\"b\": {\"dtype\": \"BOOL\", \"shape\": [3], \"data_offsets\": [0, 3]}", padTo: 8), [0, 5, 1]);
        using var f = SafeTensorsFile.Open(path);
        var b = f.Load("b").ToArray<bool>();
        Assert.Equal([false, true, true], b);
        Assert.Equal([0, 1, 1], b.Select(x => MemoryMarshal.AsBytes([x])[0]));
    }

    [Fact]
    public void LoadToReferenceDevice()
    {
        var path = PathIn("dev.safetensors");
        SafeTensorsWriter.Write(path, [new("x", Tensor.FromArray(new[] { 1f, 2f, 3f }, [3]))]);
        using var f = SafeTensorsFile.Open(path);
        var t = f.Load("x", device: Device.Reference);
        Assert.Same(Device.Reference, t.Device);
        Assert.Equal([1f, 2f, 3f], t.ToArray<float>());
    }

    [Fact]
    public void RawSpanIsZeroCopyViewAndDisposeInvalidatesAccess()
    {
        var path = PathIn("span.safetensors");
        SafeTensorsWriter.Write(path, [new("x", Tensor.FromArray(new[] { 1, 2, 3 }, [3]))]);
        var f = SafeTensorsFile.Open(path);
        Assert.Equal([1, 2, 3], MemoryMarshal.Cast<byte, int>(f.RawSpan("x")).ToArray());
        f.Dispose();
        Assert.Throws<ObjectDisposedException>(() => f.ReadRaw("x"));
    }

    [Fact]
    public void WriteRejectsBadNamesAndLeavesNoTempFile()
    {
        var path = PathIn("bad.safetensors");
        var t = Tensor.FromArray(1f, 2f);
        Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Write(path, [new("a", t), new("a", t)]));
        Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Write(path, [new("__metadata__", t)]));
        Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Write(path, [new("", t)]));
        Assert.False(File.Exists(path));
        Assert.False(File.Exists(path + ".tmp"));
    }

    [Fact]
    public void WriteOverwritesExistingFileAtomically()
    {
        var path = PathIn("over.safetensors");
        SafeTensorsWriter.Write(path, [new("a", Tensor.FromArray(1f))]);
        SafeTensorsWriter.Write(path, [new("b", Tensor.FromArray(2f, 3f))]);
        using var f = SafeTensorsFile.Open(path);
        Assert.Equal(["b"], f.Names);
        Assert.Equal([2f, 3f], f.Load("b").ToArray<float>());
    }

    // ------------------------------------------------------------------ sharded checkpoints

    private static Dictionary<string, Tensor> Model() => new()
    {
        ["model.embed_tokens.weight"] = Sample(DType.BFloat16, [16, 8]),   // 256 B
        ["model.layers.0.mlp.down_proj.weight"] = Sample(DType.Float32, [8, 8]), // 256 B
        ["model.layers.0.self_attn.q_proj.weight"] = Sample(DType.Float16, [8, 8]), // 128 B
        ["model.layers.0.input_layernorm.weight"] = Sample(DType.Float32, [8]),   // 32 B
        ["model.norm.weight"] = Sample(DType.Float32, [8]),
        ["lm_head.weight"] = Sample(DType.Float32, [16, 8]),            // 512 B: bigger than a shard
        ["step"] = Sample(DType.Int64, []),
    };

    [Fact]
    public void ShardedRoundTrip()
    {
        var model = Model();
        var written = ShardedSafeTensorsWriter.Write(_dir, model, maxShardBytes: 300, new Dictionary<string, string> { ["format"] = "pt" });
        var shards = written.Where(p => p.EndsWith(".safetensors")).ToList();
        Assert.True(shards.Count > 2);
        int n = shards.Count;
        for (int i = 0; i < n; i++) Assert.Equal(Path.Combine(_dir, $"model-{i + 1:D5}-of-{n:D5}.safetensors"), shards[i]);
        Assert.Equal(Path.Combine(_dir, ShardedSafeTensors.IndexFileName), written[^1]);
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
        foreach (var s in shards)
        {
            using var f = SafeTensorsFile.Open(s);
            long bytes = f.Names.Sum(x => f.Entry(x).ByteLength);
            Assert.True(bytes <= 300 || f.Names.Count == 1, $"{s} holds {bytes} bytes in {f.Names.Count} tensors");
            Assert.Equal("pt", f.Metadata["format"]);
        }

        using var index = JsonDocument.Parse(File.ReadAllBytes(written[^1]));
        long total = model.Values.Sum(t => (long)t.Count * t.DType.SizeOf());
        Assert.Equal(total, index.RootElement.GetProperty("metadata").GetProperty("total_size").GetInt64());

        using var st = ShardedSafeTensors.OpenFolder(_dir);
        Assert.Equal(model.Keys.Order(StringComparer.Ordinal), st.Names);
        Assert.Equal(total.ToString(), st.Metadata["total_size"]);
        Assert.Equal("pt", st.Metadata["format"]);
        foreach (var (name, t) in model)
        {
            var loaded = st.Load(name);
            Assert.Equal(t.DType, loaded.DType);
            Assert.Equal(t.ShapeArray, loaded.ShapeArray);
            Assert.Equal(RawBytes(t), RawBytes(loaded));
            Assert.Equal(t.DType, st.Entry(name).DType);
        }
        Assert.Same(st.FileOf("model.norm.weight"), st.FileOf(st.Names.First(x => st.ShardOf(x) == st.ShardOf("model.norm.weight"))));
        var ex = Assert.Throws<KeyNotFoundException>(() => st.Load("missing.weight"));
        Assert.Contains("missing.weight", ex.Message);
    }

    [Fact]
    public void ShardedSingleShardWritesModelSafetensorsAndRemovesStaleIndex()
    {
        var model = Model();
        ShardedSafeTensorsWriter.Write(_dir, model, maxShardBytes: 300);
        Assert.True(File.Exists(Path.Combine(_dir, ShardedSafeTensors.IndexFileName)));

        var written = ShardedSafeTensorsWriter.Write(_dir, model, maxShardBytes: 1L << 30);
        Assert.Equal([Path.Combine(_dir, ShardedSafeTensors.SingleFileName)], written);
        Assert.Equal(["model.safetensors"], Directory.GetFiles(_dir).Select(Path.GetFileName));

        using var st = ShardedSafeTensors.OpenFolder(_dir);
        Assert.Equal(model.Keys.Order(StringComparer.Ordinal), st.Names);
        foreach (var (name, t) in model) Assert.Equal(RawBytes(t), st.ReadRaw(name));
    }

    [Fact]
    public void ShardedOpenFolderWithSingleFileAndMetadata()
    {
        SafeTensorsWriter.Write(Path.Combine(_dir, "model.safetensors"), [new("w", Tensor.FromArray(1f, 2f))], new Dictionary<string, string> { ["k"] = "v" });
        using var st = ShardedSafeTensors.OpenFolder(_dir);
        Assert.Equal(["w"], st.Names);
        Assert.Equal("v", st.Metadata["k"]);
        Assert.Equal([1f, 2f], st.Load("w").ToArray<float>());
    }

    [Fact]
    public void ShardedMissingShardNamesShardFile()
    {
        var written = ShardedSafeTensorsWriter.Write(_dir, Model(), maxShardBytes: 300);
        var gone = written[1];
        Assert.Matches(@"model-00002-of-0000\d\.safetensors$", gone);
        File.Delete(gone);
        var ex = Assert.Throws<FileNotFoundException>(() => ShardedSafeTensors.OpenFolder(_dir));
        Assert.Contains(Path.GetFileName(gone), ex.Message);
        Assert.Contains(ShardedSafeTensors.IndexFileName, ex.Message);
    }

    [Fact]
    public void ShardedIndexPointsToShardWithoutTensorNamesTensor()
    {
        SafeTensorsWriter.Write(Path.Combine(_dir, "a.safetensors"), [new("x", Tensor.FromArray(1f))]);
        var index = Path.Combine(_dir, ShardedSafeTensors.IndexFileName);
        File.WriteAllText(index, """{"metadata": {}, "weight_map": {"x": "a.safetensors", "y": "a.safetensors"}}""");
        using var st = ShardedSafeTensors.OpenIndex(index);
        Assert.Equal([1f], st.Load("x").ToArray<float>());
        var ex = Assert.Throws<SafeTensorsFormatException>(() => st.Load("y"));
        Assert.Contains("'y'", ex.Message); Assert.Contains("a.safetensors", ex.Message); Assert.Contains(index, ex.Message);
    }

    [Theory]
    [InlineData("""[1, 2]""")]
    [InlineData("""{"weight_map": [1]}""")]
    [InlineData("""{"metadata": {}}""")]
    [InlineData("""{"weight_map": {"x": 3}}""")]
    [InlineData("""{"weight_map": {"x": "../outside.safetensors"}}""")]
    [InlineData("""{"weight_map": {"x": "a.safetensors", "x": "a.safetensors"}}""")]
    [InlineData("""{"weight_map": {""")]
    public void ShardedMalformedIndexThrows(string json)
    {
        SafeTensorsWriter.Write(Path.Combine(_dir, "a.safetensors"), [new("x", Tensor.FromArray(1f))]);
        var index = Path.Combine(_dir, ShardedSafeTensors.IndexFileName);
        File.WriteAllText(index, json);
        var ex = Assert.Throws<SafeTensorsFormatException>(() => ShardedSafeTensors.OpenFolder(_dir).Dispose());
        Assert.Contains(index, ex.Message);
    }

    // ------------------------------------------------------------------ a file written by PyTorch

    [Fact]
    public void TorchFixtureValuesMatchTorch()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "safetensors", "torch_fixture.safetensors");
        using var f = SafeTensorsFile.Open(path);
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal(14, f.Names.Count);

        uint[] Bits(float[] v) => v.Select(BitConverter.SingleToUInt32Bits).ToArray();
        var bf = f.Load("bf16", DType.Float32);
        Assert.Equal([4, 16], bf.ShapeArray);
        Assert.Equal(Bits(f.Load("bf16.as_f32").ToArray<float>()), Bits(bf.ToArray<float>()));
        var h = f.Load("f16", DType.Float32);
        Assert.Equal([2, 4, 8], h.ShapeArray);
        Assert.Equal(Bits(f.Load("f16.as_f32").ToArray<float>()), Bits(h.ToArray<float>()));

        // Our float → bf16 / f16 rounding equals torch's, bit for bit (ties, subnormals, overflow included).
        foreach (var level in Enum.GetValues<SimdLevel>().Where(l => l <= KernelContext.HardwareSimd))
        {
            using var _ = KernelContext.Override(simd: level);
            Assert.Equal(f.Load("round.bf16").ToArray<ushort>(), f.Load("round.src", DType.BFloat16).ToArray<ushort>());
            Assert.Equal(f.Load("round.f16").ToArray<Half>().Select(BitConverter.HalfToUInt16Bits),
                         f.Load("round.src", DType.Float16).ToArray<Half>().Select(BitConverter.HalfToUInt16Bits));
        }

        Assert.Equal(new sbyte[] { -128, -1, 0, 1, 127 }, f.Load("i8").ToArray<sbyte>());
        Assert.Equal(new byte[] { 0, 1, 128, 255 }, f.Load("u8").ToArray<byte>());
        Assert.Equal([int.MinValue, -1, 0, int.MaxValue], f.Load("i32").ToArray<int>());
        Assert.Equal([long.MinValue, 0, long.MaxValue], f.Load("i64").ToArray<long>());
        Assert.Equal([true, false, true, false, false, true], f.Load("bool").ToArray<bool>());
        var scalar = f.Load("scalar");
        Assert.Equal(0, scalar.Rank); Assert.Equal([2.5f], scalar.ToArray<float>());
        Assert.Equal([0, 3], f.Load("empty").ShapeArray);

        // Re-writing everything with our writer and reading it back gives the same bytes for every tensor.
        var copy = PathIn("copy.safetensors");
        SafeTensorsWriter.Write(copy, f.Names.Select(n => new KeyValuePair<string, Tensor>(n, f.Load(n))), f.Metadata);
        using var g = SafeTensorsFile.Open(copy);
        foreach (var n in f.Names) Assert.Equal(f.ReadRaw(n), g.ReadRaw(n));
    }

    // ------------------------------------------------------------------ malformed files

    private static string Header(string entries, int padTo = 1)
    {
        var h = "{" + entries + "}";
        return h + new string(' ', (padTo - h.Length % padTo) % padTo);
    }

    [Fact]
    public void MalformedShorterThan8Bytes()
    {
        var path = PathIn("short.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        AssertMalformed(path);
        File.WriteAllBytes(path, []);
        AssertMalformed(path);
    }

    [Fact]
    public void MalformedHeaderLengthBeyondFile()
    {
        AssertMalformed(Craft("beyond.safetensors", "{}", headerLength: 3));
        AssertMalformed(Craft("beyond2.safetensors", "{}", headerLength: 100));
        AssertMalformed(Craft("huge.safetensors", "{}", headerLength: ulong.MaxValue));
        AssertMalformed(Craft("huge2.safetensors", "{}", headerLength: 1UL << 63));
    }

    [Fact]
    public void MalformedHeaderLengthAbsurdInSparseLargeFile()
    {
        // A 200 MB (sparse) file claiming a 150 MB header: within the file, but over the cap; nothing that size is read.
        var path = Craft("absurd.safetensors", "{}", headerLength: 150_000_000);
        using (var fs = new FileStream(path, FileMode.Open)) fs.SetLength(200_000_000);
        var ex = AssertMalformed(path);
        Assert.Contains("limit", ex.Message);
    }

    [Theory]
    [InlineData("not json at all")]
    [InlineData("{\"a\": {\"dtype\": \"F32\", ")]
    [InlineData("{\"a\": 1,}")]
    [InlineData("\0\0\0\0\0\0\0\0")]
    public void MalformedInvalidJson(string header) => AssertMalformed(Craft("json.safetensors", header));

    [Fact]
    public void MalformedInvalidUtf8() =>
        AssertMalformed(Craft("utf8.safetensors", [.. "{\""u8, 0xFF, 0xFE, .. "\": {}}"u8]));

    [Theory]
    [InlineData("[]")]
    [InlineData("\"text\"")]
    [InlineData("42")]
    public void MalformedHeaderNotAnObject(string header) => AssertMalformed(Craft("shape.safetensors", header));

    [Theory]
    [InlineData("\"w\": 5")]
    [InlineData("\"w\": [1, 2]")]
    [InlineData("\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}")]
    [InlineData("\"w\": {\"dtype\": 4, \"shape\": [1], \"data_offsets\": [0, 4]}")]
    [InlineData("\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}")]
    [InlineData("\"w\": {\"dtype\": \"F32\", \"shape\": 1, \"data_offsets\": [0, 4]}")]
    [InlineData("\"w\": {\"dtype\": \"F32\", \"shape\": [1]}")]
    [InlineData("\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}")]
    [InlineData("\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]}")]
    [InlineData("\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [\"0\", 4]}")]
    [InlineData("\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 4]}")]
    [InlineData("\"w\": {\"dtype\": \"F32\", \"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}")]
    public void MalformedWrongEntryShapeNamesTensor(string entries) =>
        AssertMalformed(Craft("entry.safetensors", Header(entries), new byte[4]), "w");

    [Theory]
    [InlineData("\"__metadata__\": [\"a\"]")]
    [InlineData("\"__metadata__\": {\"a\": 1}")]
    [InlineData("\"__metadata__\": {\"a\": \"x\", \"a\": \"y\"}")]
    [InlineData("\"__metadata__\": {}, \"__metadata__\": {}")]
    public void MalformedMetadata(string entries) => AssertMalformed(Craft("meta.safetensors", Header(entries)));

    [Theory]
    [InlineData("F64")]
    [InlineData("Q4_0")]
    [InlineData("f32")]
    [InlineData("")]
    public void MalformedUnknownDTypeNamesTensor(string dtype)
    {
        var ex = AssertMalformed(Craft("dtype.safetensors", Header($"\"w\": {{\"dtype\": \"{dtype}\", \"shape\": [1], \"data_offsets\": [0, 4]}}"), new byte[4]), "w");
        Assert.Contains($"\"{dtype}\"", ex.Message);
    }

    [Theory]
    [InlineData("[-1]")]
    [InlineData("[2, -2]")]
    [InlineData("[1.5]")]
    [InlineData("[1.0]")]
    [InlineData("[1e0]")]
    [InlineData("[\"1\"]")]
    [InlineData("[null]")]
    [InlineData("[18446744073709551616]")]
    public void MalformedBadShapeDimsNamesTensor(string shape) =>
        AssertMalformed(Craft("dims.safetensors", Header($"\"w\": {{\"dtype\": \"F32\", \"shape\": {shape}, \"data_offsets\": [0, 4]}}"), new byte[4]), "w");

    [Theory]
    [InlineData("[1099511627776, 1099511627776]")]              // 2^80 elements
    [InlineData("[4611686018427387904]")]                       // 2^62 elements × 4 bytes overflows 64 bits
    [InlineData("[9223372036854775807, 9223372036854775807]")]
    public void MalformedHostileShapeNoOverflowNoAllocation(string shape)
    {
        var ex = AssertMalformed(Craft("hostile.safetensors", Header($"\"w\": {{\"dtype\": \"F32\", \"shape\": {shape}, \"data_offsets\": [0, 4]}}"), new byte[4]), "w");
        Assert.Contains("64 bits", ex.Message);
    }

    [Fact]
    public void HugeDimTimesZeroIsAValidEmptyTensor()
    {
        var path = Craft("zero.safetensors", Header("\"w\": {\"dtype\": \"F32\", \"shape\": [1099511627776, 1099511627776, 0], \"data_offsets\": [0, 0]}"));
        using var f = SafeTensorsFile.Open(path);
        Assert.Equal(0, f.Entry("w").ByteLength);
        Assert.Throws<NotSupportedException>(() => f.Load("w"));
    }

    [Fact]
    public void MalformedByteCountMismatchNamesTensor()
    {
        var ex = AssertMalformed(Craft("count.safetensors", Header("\"w\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}"), new byte[8]), "w");
        Assert.Contains("12 bytes", ex.Message);
    }

    [Fact]
    public void MalformedOffsetsOutOfRangeNamesTensor() =>
        AssertMalformed(Craft("range.safetensors", Header("\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}"), new byte[4]), "w");

    [Fact]
    public void MalformedOffsetsReversedNamesTensor() =>
        AssertMalformed(Craft("rev.safetensors", Header("\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 0]}"), new byte[4]), "w");

    [Fact]
    public void MalformedOffsetsOverlapNamesTensors()
    {
        var ex = AssertMalformed(Craft("overlap.safetensors", Header(
            "\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, " +
            "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}"), new byte[12]), "b");
        Assert.Contains("'a'", ex.Message);
        // The same offsets twice also overlap.
        AssertMalformed(Craft("same.safetensors", Header(
            "\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, " +
            "\"b\": {\"dtype\": \"I32\", \"shape\": [1], \"data_offsets\": [0, 4]}"), new byte[4]));
    }

    [Fact]
    public void MalformedGapBetweenTensorsNamesTensor() =>
        AssertMalformed(Craft("gap.safetensors", Header(
            "\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, " +
            "\"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 12]}"), new byte[12]), "b");

    [Fact]
    public void MalformedGapAtStartNamesTensor() =>
        AssertMalformed(Craft("gap0.safetensors", Header("\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}"), new byte[8]), "a");

    [Fact]
    public void MalformedTrailingUncoveredBytes()
    {
        var ex = AssertMalformed(Craft("trail.safetensors", Header("\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}"), new byte[6]));
        Assert.Contains("2 trailing bytes", ex.Message);
    }

    [Fact]
    public void MalformedDuplicateTensorNamesNamesTensor() =>
        AssertMalformed(Craft("dup.safetensors", Header(
            "\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, " +
            "\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}"), new byte[8]), "a");

    [Fact]
    public void MalformedTruncatedFile()
    {
        var path = PathIn("trunc.safetensors");
        SafeTensorsWriter.Write(path, [new("a", Sample(DType.Float32, [10])), new("b", Sample(DType.Int64, [10]))]);
        var bytes = File.ReadAllBytes(path);
        foreach (int cut in new[] { 1, 7, 80, bytes.Length - 9, bytes.Length - 12 })
        {
            File.WriteAllBytes(path, bytes[..^cut]);
            AssertMalformed(path);
        }
    }

    /// <summary>Random corruption of a valid file yields a valid file or a SafeTensorsFormatException — never another exception.</summary>
    [Fact]
    public void FuzzCorruptedFilesOnlyFormatExceptions()
    {
        var good = PathIn("good.safetensors");
        SafeTensorsWriter.Write(good, [new("a", Sample(DType.Float32, [3, 2])), new("b", Sample(DType.BFloat16, [5])), new("c", Sample(DType.Bool, [2]))],
            new Dictionary<string, string> { ["m"] = "v" });
        var bytes = File.ReadAllBytes(good);
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        var rng = new Random(42);
        var path = PathIn("fuzz.safetensors");
        for (int iter = 0; iter < 400; iter++)
        {
            var b = (byte[])bytes.Clone();
            int flips = rng.Next(1, 4);
            for (int k = 0; k < flips; k++)
            {
                int pos = rng.Next(0, headerEnd);
                b[pos] = rng.Next(3) switch { 0 => (byte)rng.Next(256), 1 => (byte)"0123456789[]{},:\"-."[rng.Next(18)], _ => (byte)(b[pos] ^ (1 << rng.Next(8))) };
            }
            if (rng.Next(4) == 0) b = b[..rng.Next(0, b.Length)];
            File.WriteAllBytes(path, b);
            try
            {
                using var f = SafeTensorsFile.Open(path);
                foreach (var n in f.Names)
                {
                    try { f.Load(n); }
                    catch (NotSupportedException) { }
                }
            }
            catch (SafeTensorsFormatException ex) { Assert.Contains(path, ex.Message); }
        }
    }
}
