using System.Text.Json;

namespace BitDistill.Tensors.SafeTensors;

/// <summary>A checkpoint in the Hugging Face layout: one <c>model.safetensors</c>, or shards listed by
/// <c>model.safetensors.index.json</c> (<c>{"metadata": {…}, "weight_map": {tensor: shard file}}</c>).
/// Shards are opened lazily, each once, and stay open until <see cref="Dispose"/>.</summary>
public sealed class ShardedSafeTensors : IDisposable
{
    /// <summary>The file name of a single-file checkpoint.</summary>
    public const string SingleFileName = "model.safetensors";
    /// <summary>The file name of a sharded checkpoint's index.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly Dictionary<string, string> _weightMap;   // tensor → shard file name
    private readonly Dictionary<string, SafeTensorsFile> _open = new(StringComparer.Ordinal);
    private readonly string[] _names;
    private readonly string _folder;
    private readonly Lock _lock = new();
    private bool _disposed;

    private ShardedSafeTensors(string source, string folder, Dictionary<string, string> weightMap, IReadOnlyDictionary<string, string> metadata)
    {
        Source = source; _folder = folder; _weightMap = weightMap; Metadata = metadata;
        _names = weightMap.Keys.Order(StringComparer.Ordinal).ToArray();
    }

    /// <summary>Opens a model folder: its index if there is one, else <c>model.safetensors</c>, else its only *.safetensors file.</summary>
    public static ShardedSafeTensors OpenFolder(string folder)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"model folder '{folder}' does not exist");
        var index = Path.Combine(folder, IndexFileName);
        if (File.Exists(index)) return OpenIndex(index);
        var single = Path.Combine(folder, SingleFileName);
        if (File.Exists(single)) return OpenFile(single);
        // a lone weights file under another name counts, but never a trainer's optimizer state beside the model
        var any = Directory.GetFiles(folder, "*.safetensors").Where(f => !Path.GetFileName(f).StartsWith("optimizer", StringComparison.Ordinal)).ToArray();
        if (any.Length == 1) return OpenFile(any[0]);
        throw new FileNotFoundException(any.Length == 0
            ? $"model folder '{folder}' has neither {IndexFileName} nor any *.safetensors file"
            : $"model folder '{folder}' has {any.Length} *.safetensors files but no {IndexFileName} saying how they fit together");
    }

    /// <summary>Opens a single safetensors file through this type.</summary>
    public static ShardedSafeTensors OpenFile(string path)
    {
        var file = SafeTensorsFile.Open(path);
        try
        {
            var fileName = Path.GetFileName(path);
            var map = file.Names.ToDictionary(n => n, _ => fileName, StringComparer.Ordinal);
            var st = new ShardedSafeTensors(path, Path.GetDirectoryName(Path.GetFullPath(path))!, map, file.Metadata);
            st._open.Add(fileName, file);
            return st;
        }
        catch { file.Dispose(); throw; }
    }

    /// <summary>Opens a sharded checkpoint from its index file; every shard it names must exist beside it.</summary>
    public static ShardedSafeTensors OpenIndex(string indexPath)
    {
        var info = new FileInfo(indexPath);
        if (!info.Exists) throw new FileNotFoundException($"safetensors index '{indexPath}' does not exist", indexPath);
        if (info.Length > SafeTensorsFile.MaxHeaderBytes)
            throw new SafeTensorsFormatException(indexPath, null, $"index is {info.Length} bytes, over the {SafeTensorsFile.MaxHeaderBytes}-byte limit");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(indexPath)); }
        catch (JsonException ex) { throw new SafeTensorsFormatException(indexPath, null, $"index is not valid JSON ({ex.Message})", ex); }
        using var _ = doc;
        try
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new SafeTensorsFormatException(indexPath, null, $"index must be a JSON object, found {root.ValueKind}");
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            Dictionary<string, string>? weightMap = null;
            foreach (var p in root.EnumerateObject())
            {
                if (p.Name == "metadata" && p.Value.ValueKind == JsonValueKind.Object)
                {
                    // HF writes {"total_size": 123}: non-string values are kept as their JSON text.
                    foreach (var m in p.Value.EnumerateObject())
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                }
                else if (p.Name == "weight_map")
                {
                    if (weightMap is not null) throw new SafeTensorsFormatException(indexPath, null, "\"weight_map\" appears twice");
                    if (p.Value.ValueKind != JsonValueKind.Object)
                        throw new SafeTensorsFormatException(indexPath, null, $"\"weight_map\" must be an object of tensor name → shard file, found {p.Value.ValueKind}");
                    weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
                    foreach (var w in p.Value.EnumerateObject())
                    {
                        if (w.Value.ValueKind != JsonValueKind.String)
                            throw new SafeTensorsFormatException(indexPath, w.Name, $"weight_map value must be a shard file name, found {w.Value.ValueKind}");
                        var shard = w.Value.GetString()!;
                        if (shard.Length == 0 || shard != Path.GetFileName(shard) || shard is "." or "..")
                            throw new SafeTensorsFormatException(indexPath, w.Name, $"shard \"{shard}\" must be a plain file name in the index's folder");
                        if (!weightMap.TryAdd(w.Name, shard))
                            throw new SafeTensorsFormatException(indexPath, w.Name, "weight_map lists this tensor twice");
                    }
                }
            }
            if (weightMap is null) throw new SafeTensorsFormatException(indexPath, null, "index has no \"weight_map\"");
            var folder = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;
            foreach (var shard in weightMap.Values.Distinct())
            {
                var shardPath = Path.Combine(folder, shard);
                if (!File.Exists(shardPath))
                {
                    var first = weightMap.First(kv => kv.Value == shard).Key;
                    throw new FileNotFoundException($"shard '{shardPath}' named by index '{indexPath}' (for tensor '{first}' and others) does not exist", shardPath);
                }
            }
            return new ShardedSafeTensors(indexPath, folder, weightMap, metadata);
        }
        catch (InvalidOperationException ex)
        {
            throw new SafeTensorsFormatException(indexPath, null, $"index is not valid UTF-8 JSON ({ex.Message})", ex);
        }
    }

    /// <summary>The index file or single file this was opened from.</summary>
    public string Source { get; }
    /// <summary>The index's "metadata" (non-string values as JSON text), or a single file's <c>__metadata__</c>.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }
    /// <summary>All tensor names, sorted (ordinal).</summary>
    public IReadOnlyList<string> Names => _names;
    /// <summary>True if the checkpoint has a tensor of this name.</summary>
    public bool Contains(string name) => _weightMap.ContainsKey(name);
    /// <summary>The shard file name that holds a tensor.</summary>
    public string ShardOf(string name) =>
        _weightMap.TryGetValue(name, out var s) ? s : throw new KeyNotFoundException($"checkpoint '{Source}' has no tensor '{name}'");

    /// <summary>The header entry of a tensor (opens its shard if needed).</summary>
    public SafeTensorsEntry Entry(string name) => FileOf(name).Entry(name);
    /// <summary>A copy of a tensor's stored bytes.</summary>
    public byte[] ReadRaw(string name) => FileOf(name).ReadRaw(name);
    /// <summary>Loads a tensor; see <see cref="SafeTensorsFile.Load"/>.</summary>
    public Tensor Load(string name, DType? convertTo = null, Device? device = null) => FileOf(name).Load(name, convertTo, device);

    /// <summary>Loads a tensor from its shard into 64-byte aligned pinned CPU memory (<see cref="SafeTensorsFile.LoadAligned"/>).</summary>
    public Tensor LoadAligned(string name, DType? convertTo = null) => FileOf(name).LoadAligned(name, convertTo);

    /// <summary>The opened shard holding a tensor; checks that the shard really contains it.</summary>
    public SafeTensorsFile FileOf(string name)
    {
        var shard = ShardOf(name);
        SafeTensorsFile file;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_open.TryGetValue(shard, out file!))
            {
                var path = Path.Combine(_folder, shard);
                if (!File.Exists(path))
                    throw new FileNotFoundException($"shard '{path}' (named by '{Source}' for tensor '{name}') does not exist", path);
                file = SafeTensorsFile.Open(path);
                _open.Add(shard, file);
            }
        }
        if (!file.Contains(name))
            throw new SafeTensorsFormatException(Source, name, $"the index places this tensor in '{shard}', which does not contain it");
        return file;
    }

    /// <summary>Closes every opened shard.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var f in _open.Values) f.Dispose();
            _open.Clear();
        }
    }
}
