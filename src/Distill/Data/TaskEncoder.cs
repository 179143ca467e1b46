using BitDistill.Models.Tokenization;

namespace BitDistill.Distill.Data;

/// <summary>Turns <see cref="TaskExample"/>s into <see cref="EncodedExample"/>s with a tokenizer and a
/// <see cref="PromptTemplate"/>: prompt tokens, answer tokens (classification: the label word's tokens after the answer
/// prefix; summarization: the summary's tokens and end-of-text), and truncation of the text (longest slot first, from the
/// end) so prompt + answer fit <see cref="MaxLength"/>, never the answer. For classification the label words' first tokens
/// (<see cref="LabelTokenIds"/>, what <c>LabelWordClassifier</c> scores) must be distinct; a collision is an error naming
/// the labels. With a score head (<see cref="ClassificationHead.Score"/>) there are no label words: the answer is the class
/// index itself, one "token" of the score head's vocabulary (the classes), so the training target sits at the last prompt
/// position (the last real token, where the head is read) and the prompt is all the model sees.</summary>
public sealed class TaskEncoder
{
    /// <summary>An encoder for <paramref name="kind"/>; classification needs <paramref name="labelWords"/> (with a score head
    /// only their labels are used).</summary>
    public TaskEncoder(TextTokenizer tokenizer, TaskKind kind, int maxLength, LabelWords? labelWords = null, PromptTemplate? template = null,
        ClassificationHead head = ClassificationHead.LabelWords)
    {
        Tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));
        if (maxLength < 2) throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, "the maximum length must be at least 2 tokens");
        if (head == ClassificationHead.Score && kind != TaskKind.Classification)
            throw new ArgumentException("a score head answers classification tasks only, not summarization", nameof(head));
        Kind = kind; MaxLength = maxLength; Template = template ?? PromptTemplate.Default; Head = head;
        EosId = tokenizer.EosId ?? tokenizer.TokenToId("<|endoftext|>")
            ?? throw new ArgumentException($"tokenizer {tokenizer.Source} has no end-of-text token (eos_token or <|endoftext|>)", nameof(tokenizer));
        PadId = tokenizer.PadId ?? EosId;
        if (kind == TaskKind.Classification && head == ClassificationHead.Score)
        {
            LabelWords = labelWords ?? throw new ArgumentException("classification needs its labels (LabelWords.Default(labels))", nameof(labelWords));
            _labelIndex = LabelWords.Labels.Select((l, i) => (l, i)).ToDictionary(p => p.l, p => p.i, StringComparer.Ordinal);
            LabelAnswers = LabelWords.Labels.Select((_, i) => new[] { i }).ToArray();
            LabelTokenIds = [];
        }
        else if (kind == TaskKind.Classification)
        {
            LabelWords = labelWords ?? throw new ArgumentException("classification needs label words (LabelWords.Default(labels) for the label strings)", nameof(labelWords));
            _labelIndex = LabelWords.Labels.Select((l, i) => (l, i)).ToDictionary(p => p.l, p => p.i, StringComparer.Ordinal);
            var answers = LabelWords.Words.Select((w, i) =>
            {
                var ids = tokenizer.Encode(Template.AnswerPrefix + w, parseSpecialTokens: false); // label words are data
                return ids.Length > 0 ? ids : throw new ArgumentException($"label word \"{w}\" of label '{LabelWords.Labels[i]}' encodes to no tokens");
            }).ToArray();
            var collisions = Enumerable.Range(0, answers.Length).GroupBy(i => answers[i][0]).Where(g => g.Count() > 1).ToArray();
            if (collisions.Length > 0)
                throw new ArgumentException("label words must start with distinct tokens: " + string.Join("; ", collisions.Select(g =>
                    $"labels {string.Join(" and ", g.Select(i => $"'{LabelWords.Labels[i]}' (\"{LabelWords.Words[i]}\")"))} all start with token " +
                    $"{g.Key} \"{tokenizer.Decode([g.Key])}\"")) + "; choose other words with --label-words label=word,...");
            LabelAnswers = answers;
            LabelTokenIds = answers.Select(a => a[0]).ToArray();
        }
        else
        {
            LabelAnswers = [];
            LabelTokenIds = [];
        }
    }

    private readonly Dictionary<string, int> _labelIndex = [];
    private readonly Dictionary<string, int[]> _literalCache = new(StringComparer.Ordinal);

    /// <summary>The tokenizer.</summary>
    public TextTokenizer Tokenizer { get; }
    /// <summary>Whether special-token text in the rows (e.g. "&lt;|im_end|&gt;") becomes special ids; off by default, since
    /// rows are untrusted data (Hugging Face's <c>split_special_tokens</c>). The template's own text always parses them.</summary>
    public bool ParseSpecialTokens { get; init; }
    /// <summary>The task kind.</summary>
    public TaskKind Kind { get; }
    /// <summary>The longest prompt + answer, in tokens.</summary>
    public int MaxLength { get; }
    /// <summary>The template.</summary>
    public PromptTemplate Template { get; }
    /// <summary>How classes are answered: label words or a score head.</summary>
    public ClassificationHead Head { get; }
    /// <summary>The label words (classification; with a score head, the labels answered by themselves).</summary>
    public LabelWords? LabelWords { get; }
    /// <summary>Each class's answer tokens (classification; with a score head, the class index alone).</summary>
    public IReadOnlyList<int[]> LabelAnswers { get; }
    /// <summary>Each class's first answer token: distinct, the token <c>LabelWordClassifier</c> scores (empty with a score head).</summary>
    public IReadOnlyList<int> LabelTokenIds { get; }
    /// <summary>End-of-text id (closes summaries).</summary>
    public int EosId { get; }
    /// <summary>Padding id (the tokenizer's pad token, else end-of-text).</summary>
    public int PadId { get; }

    /// <summary>For a loaded task: label words parsed from <paramref name="labelWordsSpec"/>. Without one, the label strings;
    /// when their first tokens collide under this tokenizer (e.g. "sports" and "spam"), the letters A, B, C, … instead
    /// (<see cref="LabelWords.Letters"/>), so a run on unseen labels never stops on it; an explicit spec that collides is an error.
    /// With a score head there are no words: <paramref name="labelWordsSpec"/> must be empty. Special-token text in the rows is
    /// parsed only with <paramref name="parseSpecialTokens"/>.</summary>
    public static TaskEncoder For(TaskData task, TextTokenizer tokenizer, int maxLength, string? labelWordsSpec = null, PromptTemplate? template = null,
        ClassificationHead head = ClassificationHead.LabelWords, bool parseSpecialTokens = false)
    {
        if (task.Kind != TaskKind.Classification || head == ClassificationHead.Score)
        {
            if (head == ClassificationHead.Score && !string.IsNullOrWhiteSpace(labelWordsSpec))
                throw new ArgumentException("label words apply to the label-word head; a score head answers the labels themselves", nameof(labelWordsSpec));
            return new(tokenizer, task.Kind, maxLength, task.Kind == TaskKind.Classification ? LabelWords.Default(task.Labels) : null, template, head) { ParseSpecialTokens = parseSpecialTokens };
        }
        if (!string.IsNullOrWhiteSpace(labelWordsSpec))
            return new(tokenizer, task.Kind, maxLength, LabelWords.Parse(labelWordsSpec, task.Labels), template) { ParseSpecialTokens = parseSpecialTokens };
        try { return new(tokenizer, task.Kind, maxLength, LabelWords.Default(task.Labels), template) { ParseSpecialTokens = parseSpecialTokens }; }
        catch (ArgumentException) when (task.Labels.Count <= 26)
        {
            return new(tokenizer, task.Kind, maxLength, LabelWords.Letters(task.Labels), template) { ParseSpecialTokens = parseSpecialTokens };
        }
    }

    /// <summary>The class index of a label string (classification).</summary>
    public int LabelIndex(string label) => _labelIndex.TryGetValue(label, out var i) ? i
        : throw new InvalidDataException($"label '{label}' has no label word (labels: {string.Join(", ", LabelWords?.Labels ?? [])})");

    /// <summary>Encodes one row; a row whose answer and template leave no room for its text is an error naming the row.</summary>
    public EncodedExample Encode(TaskExample row)
    {
        bool pair = Kind == TaskKind.Classification && row.TextPair is not null;
        int label = -1;
        int[] answer;
        if (Kind == TaskKind.Classification)
        {
            label = LabelIndex(row.Answer);
            answer = LabelAnswers[label];
        }
        else answer = [.. Tokenizer.Encode(Template.AnswerPrefix + row.Answer.Trim(), parseSpecialTokens: ParseSpecialTokens), EosId];
        var parts = PromptTemplate.Parse(Template.FormatFor(Kind, pair), pair);
        var slots = new[] { Tokenizer.Encode(row.Text, parseSpecialTokens: ParseSpecialTokens), pair ? Tokenizer.Encode(row.TextPair!, parseSpecialTokens: ParseSpecialTokens) : [] };
        int literal = 0;
        var literals = new int[parts.Count][];
        for (int i = 0; i < parts.Count; i++)
            if (parts[i].Literal is { } lit)
            {
                if (!_literalCache.TryGetValue(lit, out var ids)) _literalCache[lit] = ids = Tokenizer.Encode(lit);
                literals[i] = ids;
                literal += ids.Length;
            }
        int budget = MaxLength - literal - answer.Length, nSlots = pair ? 2 : 1;
        if (budget < nSlots)
            throw new InvalidDataException($"{row.Origin}: the template ({literal} tokens) and the answer ({answer.Length} tokens) leave no room " +
                $"for the text within the maximum length {MaxLength}; raise the maximum length" + (Kind == TaskKind.Summarization ? " or shorten the summary" : ""));
        int t = slots[0].Length, p = slots[1].Length;
        bool truncated = t + p > budget;
        while (t + p > budget) { if (t >= p) t--; else p--; }
        var prompt = new List<int>(literal + t + p);
        for (int i = 0; i < parts.Count; i++)
            if (parts[i].Literal is not null) prompt.AddRange(literals[i]);
            else prompt.AddRange(parts[i].Slot == 0 ? slots[0].AsSpan(0, t) : slots[1].AsSpan(0, p));
        return new EncodedExample([.. prompt], answer, label, row, truncated);
    }

    /// <summary>Encodes rows in order.</summary>
    public EncodedTask EncodeAll(IReadOnlyList<TaskExample> rows) => new(rows.Select(Encode).ToArray(), Kind, PadId);
}
