using System.Globalization;
using System.Text.Json;
using BitDistill.Autograd;
using BitDistill.Distill.Reports;
using BitDistill.Models;

namespace BitDistill.Distill.Training;

/// <summary>The trainer's checkpoint: the model (Hugging Face layout), the optimizer state and the trainer's state (step,
/// history, best validation, and the settings the run was started with) in one folder, written to a temporary name and
/// swapped in, so an interrupted run resumes from the last complete one; plus the best model so far in best/.</summary>
public static class TrainingCheckpoint
{
    /// <summary>The checkpoint folder's name inside the run's checkpoint directory.</summary>
    public const string FolderName = "checkpoint";
    /// <summary>The best model's folder name inside the run's checkpoint directory.</summary>
    public const string BestFolderName = "best";

    internal sealed record CheckpointState(long Step, double[][] Loss, double[][] Validation,
        Dictionary<string, string>? Settings = null, TermsEntry[]? Terms = null, ValidationEntry[]? Validations = null, ValidationEntry? Best = null);

    internal sealed record TermsEntry(long Step, Dictionary<string, double> Terms);

    internal sealed record ValidationEntry(long Step, string Metric, double Value, bool HigherIsBetter);

    // best.json is for people and tools: snake_case, a non-finite value as null.
    private static readonly JsonSerializerOptions BestJson = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, Converters = { new FiniteDoubleConverter() } };

    // trainer.json is snake_case like every JSON file we write; a diverged loss is kept exactly (NaN as a named literal) so
    // that a resumed run's history is the run's history. Checkpoints from before the rename (PascalCase) are still read.
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private static readonly JsonSerializerOptions PascalCaseJson = new() { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>Writes model, optimizer and trainer state to dir/checkpoint atomically (a temporary folder swapped in).</summary>
    public static void Save(string dir, CausalLanguageModel model, Optimizer opt, TrainingHistory h, long step, IReadOnlyDictionary<string, string>? settings = null)
    {
        var state = new CheckpointState(step, h.Loss.Select(l => new[] { l.Step, l.Loss }).ToArray(), h.Validation.Select(v => new[] { v.Step, v.Perplexity }).ToArray(),
            settings?.ToDictionary(), h.Terms.Select(t => new TermsEntry(t.Step, t.Terms.ToDictionary())).ToArray(),
            h.Validations.Select(v => Entry(v.Step, v.Result)).ToArray(), h.Best is { } b ? Entry(b.Step, b.Result) : null);
        WriteFolder(dir, FolderName, tmp =>
        {
            model.SavePretrained(tmp);
            opt.Save(Path.Combine(tmp, "optimizer.safetensors"));
            File.WriteAllText(Path.Combine(tmp, "trainer.json"), JsonSerializer.Serialize(state, Json));
        });
    }

    /// <summary>Writes the model to dir/best atomically, with best.json naming the step and the metric.</summary>
    public static void SaveBest(string dir, CausalLanguageModel model, long step, ValidationResult r) =>
        WriteFolder(dir, BestFolderName, tmp =>
        {
            model.SavePretrained(tmp);
            File.WriteAllText(Path.Combine(tmp, "best.json"), JsonSerializer.Serialize(Entry(step, r), BestJson));
        });

    private static ValidationEntry Entry(long step, ValidationResult r) => new(step, r.Metric, r.Value, r.HigherIsBetter);

    // tmp folder filled, then swapped in: the old folder is removed only after the new one is complete
    private static void WriteFolder(string dir, string name, Action<string> fill)
    {
        Directory.CreateDirectory(dir);
        var final = Path.Combine(dir, name);
        var tmp = Path.Combine(dir, name + ".tmp");
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        Directory.CreateDirectory(tmp);
        fill(tmp);
        var old = Path.Combine(dir, name + ".old");
        if (Directory.Exists(old)) Directory.Delete(old, true);
        if (Directory.Exists(final)) Directory.Move(final, old);
        Directory.Move(tmp, final);
        if (Directory.Exists(old)) Directory.Delete(old, true);
    }

    /// <summary>Restores the last checkpoint in dir (also one left as .old by a crash mid-swap); false when there is none.
    /// A checkpoint written with different <paramref name="settings"/> is refused with an error naming the setting (a larger
    /// step count is accepted: the run continues to it).</summary>
    public static bool TryResume(string dir, CausalLanguageModel model, Optimizer opt, TrainingHistory h,
        IReadOnlyDictionary<string, string>? settings, TextWriter? log, out long step)
    {
        step = 0;
        var path = Path.Combine(dir, FolderName);
        if (!Directory.Exists(path))
        {
            // a crash between the two moves leaves only the .old copy, which is complete
            var old = Path.Combine(dir, FolderName + ".old");
            if (!Directory.Exists(old)) return false;
            Directory.Move(old, path);
        }
        var statePath = Path.Combine(path, "trainer.json");
        CheckpointState state;
        try
        {
            var text = File.ReadAllText(statePath);
            state = JsonSerializer.Deserialize<CheckpointState>(text, text.Contains("\"Step\"", StringComparison.Ordinal) ? PascalCaseJson : Json)
                ?? throw new InvalidDataException($"{statePath}: empty trainer state");
        }
        catch (JsonException e) { throw new InvalidDataException($"{statePath}: not a trainer state ({e.Message})", e); }
        if (state.Step < 0) throw new InvalidDataException($"{statePath}: field 'step' is {state.Step}; expected a step ≥ 0");
        if (settings is not null && state.Settings is not null)
            foreach (var (k, v) in settings)
                if (state.Settings.TryGetValue(k, out var was) && was != v)
                    throw new InvalidDataException($"{statePath}: this run was started with {k} = {was}, not {v}; resume with the same settings or write to a new folder");
        if (settings is not null && state.Settings is null) log?.WriteLine($"note: {statePath} records no settings (written by an older version); resuming without checking them");
        try
        {
            var saved = ModelRegistry.FromPretrained(path);
            model.LoadStateDict(saved.StateDict(), strict: true, source: path);
            opt.Load(Path.Combine(path, "optimizer.safetensors"));
        }
        catch (Exception e) when (e is FormatException or IOException or ArgumentException or KeyNotFoundException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path}: the checkpoint is damaged ({e.Message.ReplaceLineEndings(" ")}); delete {path} to start this run again", e);
        }
        h.Loss.AddRange(state.Loss.Select(a => ((long)a[0], a[1])));
        h.Validation.AddRange(state.Validation.Select(a => ((long)a[0], a[1])));
        if (state.Terms is not null) h.Terms.AddRange(state.Terms.Select(t => (t.Step, (IReadOnlyDictionary<string, double>)t.Terms)));
        if (state.Validations is not null) h.Validations.AddRange(state.Validations.Select(v => (v.Step, new ValidationResult(v.Metric, v.Value, v.HigherIsBetter))));
        if (state.Best is { } b) h.Best = (b.Step, new ValidationResult(b.Metric, b.Value, b.HigherIsBetter));
        step = state.Step;
        log?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"note: resuming at step {step}"));
        return true;
    }
}
