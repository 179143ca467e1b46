using System.Text.Json.Nodes;
using BitDistill.Runtime;
using BitDistill.Tensors;
using BitDistill.Tensors.SafeTensors;
using static BitDistill.Tests.TestUtil;

namespace BitDistill.Tests.Runtime;

/// <summary>The runtime refuses what it cannot run, with a message naming the file and the field or tensor: a ternary ("bitnet")
/// config, a missing, mis-shaped or unexpected tensor, an unsupported setting.</summary>
public sealed class RuntimeLoadTests
{
    // A copy of a fixture folder whose config and tensors the test may change.
    private static string Copy(Action<JsonObject>? config = null, Func<IEnumerable<KeyValuePair<string, Tensor>>, IEnumerable<KeyValuePair<string, Tensor>>>? tensors = null)
    {
        var src = FixturePath("qwen", "qwen3-untied-bias");
        var dir = Path.Combine(Path.GetTempPath(), $"bitdistill-runtime-load-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(src, "config.json")))!.AsObject();
        config?.Invoke(json);
        File.WriteAllText(Path.Combine(dir, "config.json"), json.ToJsonString());
        using var st = ShardedSafeTensors.OpenFolder(src);
        var all = st.Names.Select(n => KeyValuePair.Create(n, st.Load(n))).ToList();
        SafeTensorsWriter.Write(Path.Combine(dir, "model.safetensors"), tensors is null ? all : tensors(all).ToList());
        return dir;
    }

    private static RuntimeModelException Refused(string dir)
    {
        try { return Assert.Throws<RuntimeModelException>(() => RuntimeModel.Load(dir)); }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void LoadsACopyOfTheFixture()
    {
        var dir = Copy();
        try { Assert.Equal(97, RuntimeModel.Load(dir).Config.VocabSize); }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Theory]
    [InlineData(DType.Float16)]
    [InlineData(DType.Float32)]
    public void LoadsShardedCheckpointsOfAnyFloatTypeAsTheModelDoes(DType dtype)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"bitdistill-runtime-shards-{Guid.NewGuid():N}");
        try
        {
            BitDistill.Models.Qwen.QwenModel.FromPretrained(FixturePath("qwen", "qwen2-tied")).SavePretrained(dir, dtype, maxShardBytes: 20_000);
            Assert.True(File.Exists(Path.Combine(dir, ShardedSafeTensors.IndexFileName)));
            var model = BitDistill.Models.Qwen.QwenModel.FromPretrained(dir);
            int[] ids = [3, 1, 4, 1, 5, 9, 2, 6];
            float[] expected;
            using (BitDistill.Autograd.GradMode.NoGrad())
                expected = model.Forward(Tensor.FromArray(ids.Select(x => (long)x).ToArray(), [1, ids.Length])).Value.ToFloatArray();
            var session = RuntimeModel.Load(dir).CreateSession(16);
            var all = Tensor.Zeros([ids.Length, 97]);
            session.Append(ids, all);
            Assert.True(RelErr(all.ToFloatArray(), expected) <= 1e-5);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void RefusesATernaryModel()
    {
        var e = Refused(Copy(c => c["bitnet"] = new JsonObject { ["sub_ln"] = "paper" }));
        Assert.Contains("config.json: field 'bitnet':", e.Message);
        Assert.Contains("full-precision", e.Message);
        Assert.Equal("bitnet", e.Name);
    }

    [Fact]
    public void RefusesAMissingTensorNamingIt()
    {
        var e = Refused(Copy(tensors: t => t.Where(x => x.Key != "model.layers.1.self_attn.k_proj.bias")));
        Assert.Contains("tensor 'model.layers.1.self_attn.k_proj.bias': missing (expected shape [32]", e.Message);
    }

    [Fact]
    public void RefusesAMisShapedTensorNamingIt()
    {
        var e = Refused(Copy(tensors: t => t.Select(x => x.Key == "model.layers.0.mlp.up_proj.weight" ? KeyValuePair.Create(x.Key, x.Value.Narrow(0, 0, 79).Contiguous()) : x)));
        Assert.Contains("model.safetensors: tensor 'model.layers.0.mlp.up_proj.weight': has shape [79, 48]", e.Message);
        Assert.Contains("[80, 48]", e.Message);
    }

    [Fact]
    public void RefusesAnUnexpectedTensorAndUnsupportedSettings()
    {
        var e = Refused(Copy(tensors: t => t.Append(KeyValuePair.Create("model.layers.0.extra.weight", Tensor.Zeros(3)))));
        Assert.Contains("tensor 'model.layers.0.extra.weight': unexpected tensor", e.Message);
        e = Refused(Copy(c => c["hidden_act"] = "gelu"));
        Assert.Contains("field 'hidden_act': \"gelu\" is not supported", e.Message);
        e = Refused(Copy(c => c.Remove("hidden_size")));
        Assert.Contains("field 'hidden_size': is required", e.Message);
        e = Refused(Copy(c => c["num_key_value_heads"] = 3));
        Assert.Contains("field 'num_key_value_heads': 3 does not divide num_attention_heads 4", e.Message);
    }
}
