using System.Globalization;
using System.Text;

namespace BitDistill.Distill.Data;

/// <summary>A task's train, validation and test rows, loaded and checked as the verbs need them: files read by
/// <see cref="TaskFile"/>, missing validation/test sets carved from train by <see cref="TaskSplitter"/>, labels of
/// validation/test checked against train (a label train never shows is an error naming it and where), rows duplicated
/// from train reported (<see cref="Duplicates"/>), bad rows reported (<see cref="BadRows"/>).</summary>
public sealed class TaskData
{
    private TaskData(TaskKind kind, IReadOnlyList<TaskExample> train, IReadOnlyList<TaskExample> validation, IReadOnlyList<TaskExample> test,
        IReadOnlyList<string> labels, IReadOnlyList<BadRowReport> bad, IReadOnlyList<DuplicateReport> dups, IReadOnlyList<string> layouts)
    {
        Kind = kind; Train = train; Validation = validation; Test = test; Labels = labels; BadRows = bad; Duplicates = dups; Layouts = layouts;
        _labelIndex = labels.Select((l, i) => (l, i)).ToDictionary(p => p.l, p => p.i, StringComparer.Ordinal);
    }

    private readonly Dictionary<string, int> _labelIndex;

    /// <summary>Classification or summarization.</summary>
    public TaskKind Kind { get; }
    /// <summary>Training rows.</summary>
    public IReadOnlyList<TaskExample> Train { get; }
    /// <summary>Validation rows (may be empty when its fraction is 0).</summary>
    public IReadOnlyList<TaskExample> Validation { get; }
    /// <summary>Test rows (may be empty when its fraction is 0).</summary>
    public IReadOnlyList<TaskExample> Test { get; }
    /// <summary>Classification: the label strings of train, class i = Labels[i] (integers in numeric order, otherwise
    /// ordinal order); empty for summarization.</summary>
    public IReadOnlyList<string> Labels { get; }
    /// <summary>Skipped rows per file read.</summary>
    public IReadOnlyList<BadRowReport> BadRows { get; }
    /// <summary>Validation and test rows whose input also occurs in train.</summary>
    public IReadOnlyList<DuplicateReport> Duplicates { get; }
    /// <summary>"file: layout (fields)" for each file read.</summary>
    public IReadOnlyList<string> Layouts { get; }

    /// <summary>The class index of <paramref name="label"/>; an unknown label is an error naming it.</summary>
    public int LabelIndex(string label) => _labelIndex.TryGetValue(label, out var i) ? i
        : throw new InvalidDataException($"label '{label}' is not one of the task's labels ({string.Join(", ", Labels)})");

    /// <summary>Rows per label in <paramref name="rows"/>, in <see cref="Labels"/> order.</summary>
    public int[] LabelCounts(IReadOnlyList<TaskExample> rows)
    {
        var counts = new int[Labels.Count];
        foreach (var r in rows) counts[LabelIndex(r.Answer)]++;
        return counts;
    }

    /// <summary>Loads a task as <paramref name="options"/> say.</summary>
    public static TaskData Load(TaskDataOptions options)
    {
        var files = new List<TaskFile> { TaskFile.Read(options.Train, options.Kind, options.Fields, options.SkipBadRows, options.MaxRows) };
        var validationFile = options.Validation is null ? null : TaskFile.Read(options.Validation, options.Kind, options.Fields, options.SkipBadRows, options.MaxRows);
        var testFile = options.Test is null ? null : TaskFile.Read(options.Test, options.Kind, options.Fields, options.SkipBadRows, options.MaxRows);
        if (validationFile is not null) files.Add(validationFile);
        if (testFile is not null) files.Add(testFile);

        var fractions = new List<double>();
        if (validationFile is null) fractions.Add(options.ValidationFraction);
        if (testFile is null) fractions.Add(options.TestFraction);
        var parts = TaskSplitter.Split(files[0].Rows, fractions, options.Seed);
        int k = 1;
        var train = parts[0];
        var validation = validationFile?.Rows ?? parts[k++];
        var test = testFile?.Rows ?? parts[k];
        if (train.Count == 0) throw new InvalidDataException($"{options.Train}: no training rows are left after the held-out splits");
        return Create(options.Kind, train, validation, test, files.Select(f => f.BadRows).ToArray(),
            files.Select(f => $"{f.Path}: {f.Format} {f.Layout} ({f.Fields})").ToArray());
    }

    /// <summary>A task from rows already in memory (checked as <see cref="Load"/> checks them).</summary>
    public static TaskData Create(TaskKind kind, IReadOnlyList<TaskExample> train, IReadOnlyList<TaskExample> validation, IReadOnlyList<TaskExample> test,
        IReadOnlyList<BadRowReport>? badRows = null, IReadOnlyList<string>? layouts = null)
    {
        IReadOnlyList<string> labels = [];
        if (kind == TaskKind.Classification)
        {
            var distinct = train.Select(r => r.Answer).Distinct(StringComparer.Ordinal).ToArray();
            labels = distinct.All(l => long.TryParse(l, NumberStyles.Integer, CultureInfo.InvariantCulture, out _))
                ? distinct.OrderBy(l => long.Parse(l, CultureInfo.InvariantCulture)).ToArray()
                : distinct.Order(StringComparer.Ordinal).ToArray();
            if (labels.Count < 2)
                throw new InvalidDataException($"{Where(train)}: classification needs at least two labels in train, found {labels.Count} ({string.Join(", ", labels)})");
            var known = labels.ToHashSet(StringComparer.Ordinal);
            foreach (var (name, rows) in new[] { ("validation", validation), ("test", test) })
                foreach (var r in rows)
                    if (!known.Contains(r.Answer))
                        throw new InvalidDataException($"{r.Origin}: label '{r.Answer}' of the {name} set never occurs in train (train labels: {string.Join(", ", labels)})");
        }
        var dups = new[] { DuplicateReport.Find(train, validation, "validation"), DuplicateReport.Find(train, test, "test") };
        return new TaskData(kind, train, validation, test, labels, badRows ?? [], dups, layouts ?? []);
    }

    private static string Where(IReadOnlyList<TaskExample> rows) => rows.Count == 0 ? "train" : rows[0].Origin.Split(':')[0];

    /// <summary>A few lines for the verbs to print: sizes, labels and their counts, layouts, bad rows and duplicates.</summary>
    public string Summary()
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"{Kind}: train {Train.Count}, validation {Validation.Count}, test {Test.Count} rows");
        if (Kind == TaskKind.Classification)
            foreach (var (name, rows) in new[] { ("train", Train), ("validation", Validation), ("test", Test) })
                sb.AppendLine($"  {name} labels: " + string.Join(", ", Labels.Zip(LabelCounts(rows), (l, c) => $"{l} {c}")));
        foreach (var l in Layouts) sb.AppendLine("  " + l);
        foreach (var b in BadRows.Where(b => b.Count > 0)) sb.AppendLine("  " + b);
        foreach (var d in Duplicates.Where(d => d.Count > 0)) sb.AppendLine("  " + d);
        return sb.ToString();
    }
}
