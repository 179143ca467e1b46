using System.Text.Encodings.Web;
using System.Text.Json;

namespace BitDistill.Tensors.SafeTensors;

/// <summary>Writes a checkpoint in the Hugging Face layout, splitting tensors into shards of at most a given size.</summary>
public static class ShardedSafeTensorsWriter
{
    /// <summary>Writes <paramref name="tensors"/> (sorted by name) into <paramref name="folder"/>. If they fit in one shard the
    /// result is a single <c>model.safetensors</c> (as <c>save_pretrained</c> does); otherwise <c>model-0000i-of-0000n.safetensors</c>
    /// plus <c>model.safetensors.index.json</c> (metadata gets <c>total_size</c>). A tensor larger than the limit gets a shard of its own.
    /// Every file is written atomically, the index last; files of an earlier checkpoint in the folder that the new one
    /// does not use (old shards, a stale index or single file) are deleted afterwards. Returns the paths written.</summary>
    public static IReadOnlyList<string> Write(string folder, IEnumerable<KeyValuePair<string, Tensor>> tensors, long maxShardBytes,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxShardBytes, 1);
        Directory.CreateDirectory(folder);
        var list = SafeTensorsWriter.Sorted(tensors);
        var shards = new List<List<KeyValuePair<string, Tensor>>>();
        long current = 0;
        foreach (var kv in list)
        {
            long bytes = SafeTensorsWriter.DataBytes(kv.Value);
            if (shards.Count == 0 || (current > 0 && current + bytes > maxShardBytes)) { shards.Add([]); current = 0; }
            shards[^1].Add(kv);
            current += bytes;
        }
        var written = new List<string>();
        if (shards.Count <= 1)
        {
            var path = Path.Combine(folder, ShardedSafeTensors.SingleFileName);
            SafeTensorsWriter.Write(path, list, metadata);
            written.Add(path);
        }
        else
        {
            int n = shards.Count;
            var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
            for (int i = 0; i < n; i++)
            {
                var name = $"model-{i + 1:D5}-of-{n:D5}.safetensors";
                var path = Path.Combine(folder, name);
                SafeTensorsWriter.Write(path, shards[i], metadata);
                written.Add(path);
                foreach (var kv in shards[i]) weightMap[kv.Key] = name;
            }
            var indexPath = Path.Combine(folder, ShardedSafeTensors.IndexFileName);
            long total = list.Sum(kv => SafeTensorsWriter.DataBytes(kv.Value));
            SafeTensorsWriter.AtomicWrite(indexPath, s =>
            {
                using var w = new Utf8JsonWriter(s, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
                w.WriteStartObject();
                w.WriteStartObject("metadata");
                w.WriteNumber("total_size", total);
                if (metadata is not null)
                    foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                        if (k != "total_size") w.WriteString(k, v);
                w.WriteEndObject();
                w.WriteStartObject("weight_map");
                foreach (var (k, v) in weightMap) w.WriteString(k, v);
                w.WriteEndObject();
                w.WriteEndObject();
            });
            written.Add(indexPath);
        }
        RemoveStale(folder, written);
        return written;
    }

    private static void RemoveStale(string folder, List<string> keep)
    {
        var keepNames = keep.Select(Path.GetFileName).ToHashSet(StringComparer.Ordinal);
        var stale = Directory.GetFiles(folder, "model-*-of-*.safetensors")
            .Append(Path.Combine(folder, ShardedSafeTensors.IndexFileName))
            .Append(Path.Combine(folder, ShardedSafeTensors.SingleFileName))
            .Where(p => File.Exists(p) && !keepNames.Contains(Path.GetFileName(p)));
        foreach (var p in stale) File.Delete(p);
    }
}
