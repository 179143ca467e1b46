using System.CommandLine;
using BitDistill.Distill.Data;
using BitDistill.Distill.Tasks;
using BitDistill.Models;

namespace BitDistill.Cli;

/// <summary>The data flags every task verb shares (finetune, distill, evaluate, compare): the task kind, the files, the
/// field names, the bad-row policy, the label words or score head and the length limit.</summary>
public sealed class TaskArguments
{
    /// <summary>--task classify|summarize.</summary>
    public Option<string> Task { get; } = new("--task") { Description = "classify (text or text pair → label) or summarize (document → summary)" };
    /// <summary>--train FILE.</summary>
    public Option<string?> Train { get; } = new("--train") { Description = "training rows: JSON array, JSONL, CSV, TSV (GLUE headers recognised) or Parquet" };
    /// <summary>--validation FILE.</summary>
    public Option<string?> Validation { get; } = new("--validation") { Description = "validation rows (default: a seeded 10% of --train)" };
    /// <summary>--test FILE.</summary>
    public Option<string?> Test { get; } = new("--test") { Description = "test rows (default: a seeded 10% of --train)" };
    /// <summary>Field names.</summary>
    public Option<string?> TextField { get; } = new("--text-field") { Description = "field of the text (classification)" };
    /// <summary>Field names.</summary>
    public Option<string?> TextPairField { get; } = new("--text-pair-field") { Description = "field of the second text of a pair (classification)" };
    /// <summary>Field names.</summary>
    public Option<string?> LabelField { get; } = new("--label-field") { Description = "field of the label, string or integer (classification)" };
    /// <summary>Field names.</summary>
    public Option<string?> DocumentField { get; } = new("--document-field") { Description = "field of the document (summarization)" };
    /// <summary>Field names.</summary>
    public Option<string?> SummaryField { get; } = new("--summary-field") { Description = "field of the reference summary (summarization)" };
    /// <summary>--skip-bad-rows.</summary>
    public Option<bool> SkipBadRows { get; } = new("--skip-bad-rows") { Description = "count and report malformed rows instead of stopping at the first" };
    /// <summary>--label-words.</summary>
    public Option<string?> LabelWords { get; } = new("--label-words") { Description = "words the model answers per label, e.g. negative=bad,positive=good (default: the labels)" };
    /// <summary>--head label-words|score.</summary>
    public Option<string?> Head { get; } = new("--head") { Description = "how a classifier answers: label-words (the LM's next token after the prompt, as the paper; default) or score (a score head [labels, hidden] on the last token, saved as Hugging Face's *ForSequenceClassification)" };
    /// <summary>--max-length.</summary>
    public Option<int> MaxLength { get; } = new("--max-length") { Description = "longest prompt + answer in tokens (the text is truncated, never the answer)", DefaultValueFactory = _ => 256 };

    /// <summary>--parse-special.</summary>
    public Option<bool> ParseSpecial { get; } = new("--parse-special") { Description = ParseSpecialHelp };

    /// <summary>The help of every --parse-special flag.</summary>
    public const string ParseSpecialHelp = "turn special-token text in the data (e.g. <|im_end|>) into special token ids (default: tokenize it as ordinary text, as Hugging Face's split_special_tokens does for untrusted text)";

    /// <summary>Adds the flags to <paramref name="cmd"/>.</summary>
    public void AddTo(Command cmd)
    {
        foreach (var o in new Option[] { Task, Train, Validation, Test, TextField, TextPairField, LabelField, DocumentField, SummaryField, SkipBadRows, LabelWords, Head, MaxLength, ParseSpecial })
            cmd.Options.Add(o);
    }

    /// <summary>The task kind from --task (or <paramref name="fallback"/>, e.g. the teacher's task).</summary>
    public TaskKind Kind(ParseResult p, TaskKind? fallback = null) => p.GetValue(Task) switch
    {
        "classify" => TaskKind.Classification,
        "summarize" => TaskKind.Summarization,
        null => fallback ?? throw new UsageException("--task is required: classify or summarize"),
        var t => throw new UsageException($"--task must be classify or summarize, got '{t}'"),
    };

    /// <summary>The head --head names for a task of <paramref name="kind"/> (null when not given); an unknown name, or a score
    /// head for summarization, is a usage error.</summary>
    public ClassificationHead? HeadOf(ParseResult p, TaskKind kind)
    {
        if (p.GetValue(Head) is not { } name) return null;
        var head = TaskSpec.ParseHead(name) ?? throw new UsageException($"--head must be label-words or score, got '{name}'");
        if (head == ClassificationHead.Score && kind != TaskKind.Classification)
            throw new UsageException("--head score needs --task classify: a score head answers labels, not summaries");
        return head;
    }

    /// <summary>A fine-tuned model's task.json with the head its config.json has (architectures *ForSequenceClassification: the
    /// score head), which --head, when given, must name.</summary>
    public TaskSpec SpecOf(ParseResult p, string modelDir)
    {
        var spec = TaskSpec.Load(modelDir);
        var head = ModelRegistry.IsSequenceClassifier(ModelRegistry.LoadConfig(Path.Combine(modelDir, "config.json"))) ? ClassificationHead.Score : ClassificationHead.LabelWords;
        if (head == ClassificationHead.Score && spec.Kind != TaskKind.Classification)
            throw new UsageException($"{modelDir}: config.json is a sequence classifier but task.json says summarize");
        if (HeadOf(p, spec.Kind) is { } given && given != head)
            throw new UsageException($"--head {TaskSpec.HeadName(given)}: {modelDir} answers by {(head == ClassificationHead.Score ? "a score head (config.json architectures *ForSequenceClassification)" : "label words (its config.json is a causal LM)")}");
        return spec with { Head = head };
    }

    /// <summary>The data options; every given path must exist.</summary>
    public TaskDataOptions Options(ParseResult p, ulong seed, TaskKind? fallbackKind = null)
    {
        var train = p.GetValue(Train) ?? throw new UsageException("--train is required");
        foreach (var (flag, path) in new[] { ("--train", train), ("--validation", p.GetValue(Validation)), ("--test", p.GetValue(Test)) })
            if (path is not null && !File.Exists(path)) throw new UsageException($"{flag} {path}: file not found");
        if (p.GetValue(MaxLength) < 8) throw new UsageException($"--max-length must be at least 8, got {p.GetValue(MaxLength)}");
        return new TaskDataOptions
        {
            Kind = Kind(p, fallbackKind), Train = train, Validation = p.GetValue(Validation), Test = p.GetValue(Test), SkipBadRows = p.GetValue(SkipBadRows), Seed = seed,
            Fields = new TaskFields(p.GetValue(TextField), p.GetValue(TextPairField), p.GetValue(LabelField), p.GetValue(DocumentField), p.GetValue(SummaryField)),
        };
    }
}
