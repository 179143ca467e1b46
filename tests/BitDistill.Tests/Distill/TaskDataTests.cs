using BitDistill.Distill.Data;

namespace BitDistill.Tests.Distill;

/// <summary>Loading a task: splits deterministic by seed and never overlapping, labels of test checked against train,
/// duplicates between train and test reported.</summary>
public sealed class TaskDataTests
{
    private static TaskExample Row(int i, string label, string? text = null) => new(text ?? $"sentence number {i}", null, label, $"mem:{i}");

    private static List<TaskExample> Rows(int n) => Enumerable.Range(0, n).Select(i => Row(i, i % 3 == 0 ? "b" : "a")).ToList();

    [Fact]
    public void SplitsAreDeterministicBySeedDisjointAndCoverEveryRow()
    {
        var rows = Rows(1000);
        rows.Add(Row(5000, "a", "sentence number 7"));   // a duplicate input: must land with its twin
        var a = TaskSplitter.Split(rows, [0.1, 0.2], 42);
        var again = TaskSplitter.Split(rows, [0.1, 0.2], 42);
        var other = TaskSplitter.Split(rows, [0.1, 0.2], 43);
        for (int i = 0; i < 3; i++) Assert.Equal(a[i].Select(r => r.Origin), again[i].Select(r => r.Origin));
        Assert.NotEqual(a[1].Select(r => r.Origin), other[1].Select(r => r.Origin));
        Assert.Equal(rows.Count, a.Sum(p => p.Count));
        Assert.Equal(rows.Count, a.SelectMany(p => p).Select(r => r.Origin).Distinct().Count());
        Assert.InRange(a[1].Count, 99, 102);
        Assert.InRange(a[2].Count, 199, 202);
        var keys = a.Select(p => p.Select(r => r.InputKey).ToHashSet()).ToArray();
        Assert.Empty(keys[0].Intersect(keys[1]));
        Assert.Empty(keys[0].Intersect(keys[2]));
        Assert.Empty(keys[1].Intersect(keys[2]));
        var shuffled = rows.AsEnumerable().Reverse().ToList();
        Assert.Equal(a[2].Select(r => r.Origin).Order(), TaskSplitter.Split(shuffled, [0.1, 0.2], 42)[2].Select(r => r.Origin).Order());
    }

    [Fact]
    public void HeldOutFractionsOutOfRangeAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => TaskSplitter.Split(Rows(10), [0.6, 0.5], 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => TaskSplitter.Split(Rows(10), [-0.1], 1));
    }

    [Fact]
    public void ALabelOfTestThatTrainNeverShowsIsAnErrorNamingItAndWhere()
    {
        var e = Assert.Throws<InvalidDataException>(() => TaskData.Create(TaskKind.Classification, Rows(10), [], [Row(99, "c")]));
        Assert.Contains("mem:99: label 'c' of the test set never occurs in train (train labels: a, b)", e.Message);
    }

    [Fact]
    public void ClassificationNeedsTwoLabelsAndIntegerLabelsAreOrderedNumerically()
    {
        Assert.Contains("at least two labels", Assert.Throws<InvalidDataException>(() =>
            TaskData.Create(TaskKind.Classification, [Row(1, "a"), Row(2, "a")], [], [])).Message);
        var t = TaskData.Create(TaskKind.Classification, [Row(1, "10"), Row(2, "9"), Row(3, "2")], [], []);
        Assert.Equal(["2", "9", "10"], t.Labels);
        Assert.Equal(2, t.LabelIndex("10"));
    }

    [Fact]
    public void RowsDuplicatedBetweenTrainAndTestAreCountedWithTheFirstExamples()
    {
        var train = Rows(20);
        var test = new List<TaskExample> { Row(100, "a", "sentence number 3"), Row(101, "a", "fresh text"), Row(102, "b", "sentence number 4 "),
            Row(103, "a", "sentence number 5"), Row(104, "a", "sentence number 6") };
        var t = TaskData.Create(TaskKind.Classification, train, [], test);
        var d = t.Duplicates.Single(x => x.Split == "test");
        Assert.Equal(4, d.Count);
        Assert.Equal(DuplicateReport.KeptExamples, d.FirstExamples.Count);
        Assert.StartsWith("mem:100 = mem:3", d.FirstExamples[0]);
        Assert.Contains("4 rows duplicated from train", t.Summary());
        Assert.Equal(0, t.Duplicates.Single(x => x.Split == "validation").Count);
    }

    [Fact]
    public void LoadingOneFileCarvesValidationAndTestFromIt()
    {
        var dir = Directory.CreateTempSubdirectory();
        try
        {
            var path = Path.Combine(dir.FullName, "all.jsonl");
            File.WriteAllLines(path, Enumerable.Range(0, 200).Select(i => $"{{\"text\": \"review {i}\", \"label\": \"{(i % 2 == 0 ? "pos" : "neg")}\"}}"));
            var t = TaskData.Load(new TaskDataOptions { Kind = TaskKind.Classification, Train = path, ValidationFraction = 0.1, TestFraction = 0.25, Seed = 7 });
            Assert.Equal((130, 20, 50), (t.Train.Count, t.Validation.Count, t.Test.Count));
            Assert.Equal(["neg", "pos"], t.Labels);
            Assert.Empty(t.Train.Select(r => r.Text).Intersect(t.Test.Select(r => r.Text)));
            Assert.Contains("JsonLines text/label", t.Layouts[0]);
        }
        finally { dir.Delete(true); }
    }
}
