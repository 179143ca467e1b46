using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BitDistill.Models;
using BitDistill.Models.BitNet;

namespace BitDistill.Distill.Recipes;

/// <summary>A recipe as a JSON file (snake_case): start from a known recipe ("base": "bitdistill") and change fields, or give
/// them all. Command-line flags override it; the resolved recipe is saved with every output model (recipe.json).
/// Example: {"base": "bitdistill", "bitnet": {"subln": "all"}, "logits_distillation_weight": 5, "attention_layer": 3}.</summary>
public static class RecipeFile
{
    /// <summary>The file name the resolved recipe is saved under in an output model folder.</summary>
    public const string FileName = "recipe.json";

    private static readonly string[] Known =
        ["base", "name", "description", "bitnet", "continued_pretraining", "logits_distillation_weight", "temperature", "attention_distillation_weight", "attention_layer"];

    /// <summary>Reads and validates a recipe file; errors name the file and the field.</summary>
    public static Recipe Load(string path)
    {
        if (Directory.Exists(path)) throw new FileNotFoundException($"recipe file '{path}' is a folder; give a file", path);
        if (!File.Exists(path)) throw new FileNotFoundException($"recipe file '{path}' does not exist", path);
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new ModelConfigException(path, null, $"not valid JSON: {e.Message}", e); }
        if (node is not JsonObject o) throw new ModelConfigException(path, null, "expected a JSON object");
        return Parse(o, path);
    }

    /// <summary>A recipe from a JSON object (see the class summary); <paramref name="source"/> names it in errors.</summary>
    public static Recipe Parse(JsonObject o, string source)
    {
        foreach (var (k, _) in o)
            if (!Known.Contains(k)) throw new ModelConfigException(source, k, $"unknown recipe field (known: {string.Join(", ", Known)})");
        T Get<T>(string key, T fallback)
        {
            if (o[key] is not { } v) return fallback;
            try { return v.GetValue<T>(); }
            catch (Exception e) when (e is InvalidOperationException or FormatException) { throw new ModelConfigException(source, key, $"expected a {typeof(T).Name.ToLowerInvariant()}", e); }
        }
        Recipe r;
        try { r = o["base"] is null ? new Recipe { Name = "custom", Description = "custom recipe" } : KnownRecipes.ByName(Get("base", "")); }
        catch (ArgumentException e) { throw new ModelConfigException(source, "base", e.Message, e); }
        r = r with
        {
            Name = Get("name", o["base"] is null ? r.Name : r.Name + "-custom"),
            Description = Get("description", r.Description),
            ContinuedPretraining = Get("continued_pretraining", r.ContinuedPretraining),
            LogitsDistillationWeight = Get("logits_distillation_weight", r.LogitsDistillationWeight),
            Temperature = Get("temperature", r.Temperature),
            AttentionDistillationWeight = Get("attention_distillation_weight", r.AttentionDistillationWeight),
            AttentionLayer = o.ContainsKey("attention_layer") && o["attention_layer"] is null ? null : o["attention_layer"] is null ? r.AttentionLayer : Get("attention_layer", 0),
        };
        if (o.ContainsKey("bitnet"))
            r = r with { BitNet = o["bitnet"] is { } b ? BitNetConfig.Parse(Merge(r.BitNet, b, source), source, "bitnet") : null };
        try { r.Validate(); }
        catch (ArgumentException e) { throw new ModelConfigException(source, null, e.Message, e); }
        return r;
    }

    // A partial "bitnet" object changes the base recipe's settings field by field.
    private static JsonObject Merge(BitNetConfig? baseSettings, JsonNode changes, string source)
    {
        if (changes is not JsonObject c) throw new ModelConfigException(source, "bitnet", "expected an object or null");
        var merged = baseSettings?.ToJson() ?? new JsonObject();
        foreach (var (k, v) in c) merged[k] = v?.DeepClone();
        return merged;
    }

    /// <summary>The recipe as JSON (every field, so the file alone reproduces it).</summary>
    public static JsonObject ToJson(Recipe r) => new()
    {
        ["name"] = r.Name,
        ["description"] = r.Description,
        ["bitnet"] = r.BitNet?.ToJson(),
        ["continued_pretraining"] = r.ContinuedPretraining,
        ["logits_distillation_weight"] = r.LogitsDistillationWeight,
        ["temperature"] = r.Temperature,
        ["attention_distillation_weight"] = r.AttentionDistillationWeight,
        ["attention_layer"] = r.AttentionLayer,
    };

    /// <summary>Writes <paramref name="r"/> to <paramref name="path"/> through a temporary file.</summary>
    public static void Save(Recipe r, string path)
    {
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, ToJson(r).ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>"λ 10, τ 5, γ 100000" for logs.</summary>
    public static string Describe(Recipe r) => string.Create(CultureInfo.InvariantCulture,
        $"{r.Name}: {(r.BitNet is null ? "full precision" : $"ternary, SubLN {r.BitNet.SubLn.ToString().ToLowerInvariant()}")}{(r.ContinuedPretraining ? ", stage 2" : "")}, λ {r.LogitsDistillationWeight}, τ {r.Temperature}, γ {r.AttentionDistillationWeight}");
}
