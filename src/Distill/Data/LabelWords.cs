namespace BitDistill.Distill.Data;

/// <summary>The word the model answers for each label (<c>--label-words negative=bad,positive=good</c>); by default each
/// label is its own word. Whether the words' first tokens are distinct depends on the tokenizer and template and is checked
/// by <see cref="TaskEncoder"/>.</summary>
public sealed class LabelWords
{
    private LabelWords(IReadOnlyList<string> labels, IReadOnlyList<string> words)
    {
        Labels = labels;
        Words = words;
    }

    /// <summary>The task's labels, class i = Labels[i].</summary>
    public IReadOnlyList<string> Labels { get; }
    /// <summary>The word answered for each label, same order.</summary>
    public IReadOnlyList<string> Words { get; }

    /// <summary>Each label answered by its own string.</summary>
    public static LabelWords Default(IReadOnlyList<string> labels) => new(labels.ToArray(), labels.ToArray());

    /// <summary>The labels answered by the capital letters A, B, C, … in label order (at most 26): a fallback whose first
    /// tokens are distinct in any byte-level BPE.</summary>
    public static LabelWords Letters(IReadOnlyList<string> labels)
    {
        if (labels.Count > 26) throw new ArgumentException($"letters can answer at most 26 labels, the task has {labels.Count}");
        return new(labels.ToArray(), labels.Select((_, i) => ((char)('A' + i)).ToString()).ToArray());
    }

    /// <summary>Parses "label=word,label=word" for <paramref name="labels"/>: every label must be mapped once, to a non-empty
    /// word, and no unknown label may appear; null or empty <paramref name="spec"/> = <see cref="Default"/>.</summary>
    public static LabelWords Parse(string? spec, IReadOnlyList<string> labels)
    {
        if (string.IsNullOrWhiteSpace(spec)) return Default(labels);
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in spec.Split(','))
        {
            int eq = part.IndexOf('=');
            if (eq <= 0 || eq == part.Length - 1)
                throw new ArgumentException($"--label-words: '{part}' is not label=word (expected e.g. negative=bad,positive=good)");
            var label = part[..eq].Trim();
            var word = part[(eq + 1)..].Trim();
            if (!labels.Contains(label))
                throw new ArgumentException($"--label-words: '{label}' is not a label of the task (labels: {string.Join(", ", labels)})");
            if (word.Length == 0) throw new ArgumentException($"--label-words: label '{label}' has an empty word");
            if (!map.TryAdd(label, word)) throw new ArgumentException($"--label-words: label '{label}' is mapped twice");
        }
        var missing = labels.Where(l => !map.ContainsKey(l)).ToArray();
        if (missing.Length > 0) throw new ArgumentException($"--label-words: no word for label{(missing.Length == 1 ? "" : "s")} {string.Join(", ", missing)}");
        return new LabelWords(labels.ToArray(), labels.Select(l => map[l]).ToArray());
    }

    /// <inheritdoc/>
    public override string ToString() => string.Join(",", Labels.Zip(Words, (l, w) => $"{l}={w}"));
}
