using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using BitDistill.Distill.Reports;
using BitDistill.Tensors;

namespace BitDistill.Distill.Evaluation;

/// <summary>The JSON report of one evaluation (what <c>evaluate --json</c> prints and saves): the task, the model and data it
/// ran on, and the classification or summarization metrics.</summary>
public sealed record EvaluationReport
{
    /// <summary>"classify" or "summarize".</summary>
    [JsonPropertyName("task")] public required string Task { get; init; }
    /// <summary>The model folder evaluated.</summary>
    [JsonPropertyName("model")] public string? Model { get; init; }
    /// <summary>The test file.</summary>
    [JsonPropertyName("test_file")] public string? TestFile { get; init; }
    /// <summary>Rows evaluated.</summary>
    [JsonPropertyName("test_rows")] public int TestRows { get; init; }
    /// <summary>Wall-clock seconds the evaluation took (generation included).</summary>
    [JsonPropertyName("seconds")] public double Seconds { get; init; }
    /// <summary>Classification metrics (classify tasks).</summary>
    [JsonPropertyName("classification")] public ClassificationReport? Classification { get; init; }
    /// <summary>Summarization metrics (summarize tasks).</summary>
    [JsonPropertyName("summarization")] public SummarizationReport? Summarization { get; init; }
    /// <summary>The version of the code that evaluated.</summary>
    [JsonPropertyName("code_version")] public string CodeVersion { get; init; } = JsonReports.CodeVersion;

    /// <summary>The serializer settings: indented, nulls left out, non-ASCII labels written as they are, a metric that is not
    /// finite (e.g. an F1 over no rows) written as null.</summary>
    public static JsonSerializerOptions JsonOptions { get; } = new()
    {
        Converters = { new FiniteDoubleConverter() },
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>The report as indented JSON (with a final newline).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions) + "\n";

    /// <summary>Reads a report written by <see cref="ToJson"/>.</summary>
    public static EvaluationReport FromJson(string json) =>
        JsonSerializer.Deserialize<EvaluationReport>(json, JsonOptions) ?? throw new JsonException("the evaluation report is null");

    /// <summary>Writes the report to <paramref name="path"/> through a temporary file renamed into place, so a reader never sees
    /// half a report.</summary>
    public void Save(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        AtomicFile.WriteAllText(path, ToJson());
    }
}
