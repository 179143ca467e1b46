using System.Text.Json;
using System.Text.Json.Nodes;
using BitDistill.Distill.Data;
using BitDistill.Models;
using BitDistill.Models.Tokenization;

namespace BitDistill.Distill.Tasks;

/// <summary>How a model was taught a task, saved beside it as task.json: the kind, the labels and the words that answer them,
/// the prompt template, the length limit, the head (label words or a score head) and whether special-token text in rows was
/// parsed, so <c>evaluate</c> and <c>classify</c> ask the model exactly as it was trained.</summary>
public sealed record TaskSpec(TaskKind Kind, IReadOnlyList<string> Labels, string? LabelWords, int MaxLength, PromptTemplate Template,
    ClassificationHead Head = ClassificationHead.LabelWords, bool ParseSpecialTokens = false)
{
    /// <summary>The command-line and task.json name of a head: "label-words" or "score".</summary>
    public static string HeadName(ClassificationHead head) => head == ClassificationHead.Score ? "score" : "label-words";

    /// <summary>The head named <paramref name="name"/> ("label-words" or "score"), or null for any other name.</summary>
    public static ClassificationHead? ParseHead(string? name) => name switch
    {
        "label-words" => ClassificationHead.LabelWords,
        "score" => ClassificationHead.Score,
        _ => null,
    };

    /// <summary>The file name in a model folder.</summary>
    public const string FileName = "task.json";

    /// <summary>The encoder for this task with <paramref name="tokenizer"/>.</summary>
    public TaskEncoder Encoder(TextTokenizer tokenizer) => new(tokenizer, Kind, MaxLength,
        Kind == TaskKind.Classification ? Data.LabelWords.Parse(LabelWords, Labels) : null, Template, Head) { ParseSpecialTokens = ParseSpecialTokens };

    /// <summary>Writes task.json into <paramref name="folder"/> through a temporary file.</summary>
    public void Save(string folder)
    {
        var o = new JsonObject
        {
            ["kind"] = Kind == TaskKind.Classification ? "classify" : "summarize",
            ["labels"] = new JsonArray(Labels.Select(l => (JsonNode?)l).ToArray()),
            ["label_words"] = LabelWords,
            ["max_length"] = MaxLength,
            ["head"] = Kind == TaskKind.Classification ? HeadName(Head) : null,
            ["parse_special"] = ParseSpecialTokens,
            ["template"] = new JsonObject { ["single"] = Template.Single, ["pair"] = Template.Pair, ["summary"] = Template.Summary, ["answer_prefix"] = Template.AnswerPrefix },
        };
        var path = Path.Combine(folder, FileName);
        File.WriteAllText(path + ".tmp", o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        File.Move(path + ".tmp", path, overwrite: true);
    }

    /// <summary>Reads task.json from a model folder; errors name the file and the field.</summary>
    public static TaskSpec Load(string folder)
    {
        var path = Path.Combine(folder, FileName);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path} does not exist: the model was not fine-tuned on a task by bitdistill (give the task flags instead)", path);
        JsonObject o;
        try { o = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new ModelConfigException(path, null, "expected a JSON object"); }
        catch (JsonException e) { throw new ModelConfigException(path, null, $"not valid JSON: {e.Message}", e); }
        T Get<T>(JsonObject obj, string key, string at)
        {
            try { return (obj[key] ?? throw new ModelConfigException(path, at + key, "missing")).GetValue<T>(); }
            catch (Exception e) when (e is InvalidOperationException or FormatException) { throw new ModelConfigException(path, at + key, $"expected a {typeof(T).Name.ToLowerInvariant()}", e); }
        }
        var kind = Get<string>(o, "kind", "") switch
        {
            "classify" => TaskKind.Classification,
            "summarize" => TaskKind.Summarization,
            var k => throw new ModelConfigException(path, "kind", $"'{k}' is not classify or summarize"),
        };
        var labels = (o["labels"] as JsonArray ?? throw new ModelConfigException(path, "labels", "expected an array")).Select((n, i) =>
            n?.GetValue<string>() ?? throw new ModelConfigException(path, $"labels[{i}]", "expected a string")).ToArray();
        if (kind == TaskKind.Classification && labels.Length < 2) throw new ModelConfigException(path, "labels", "a classification task needs at least two labels");
        var t = o["template"] as JsonObject ?? throw new ModelConfigException(path, "template", "expected an object");
        var template = new PromptTemplate(Get<string>(t, "single", "template."), Get<string>(t, "pair", "template."), Get<string>(t, "summary", "template."), Get<string>(t, "answer_prefix", "template."));
        int max = Get<int>(o, "max_length", "");
        if (max < 2) throw new ModelConfigException(path, "max_length", $"must be at least 2, got {max}");
        // written since --head score; older task.json files answer by label words
        var head = ClassificationHead.LabelWords;
        if (o["head"] is { } h)
        {
            string? name = h is JsonValue v && v.TryGetValue<string>(out var hs) ? hs : null;
            head = ParseHead(name) ?? throw new ModelConfigException(path, "head", $"'{h.ToJsonString()}' is not label-words or score");
            if (head == ClassificationHead.Score && kind != TaskKind.Classification) throw new ModelConfigException(path, "head", "a score head needs kind classify");
        }
        bool parseSpecial = o["parse_special"] is not null && Get<bool>(o, "parse_special", "");
        return new TaskSpec(kind, labels, o["label_words"]?.GetValue<string>(), max, template, head, parseSpecial);
    }
}
