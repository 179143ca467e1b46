using BitDistill.Distill.Data;
using BitDistill.Models.Tokenization;

namespace BitDistill.Tests.Distill;

/// <summary>Prompt encoding and batching: label-word collisions, truncation that keeps the answer, right-padded training
/// batches with targets on answer tokens only, left-padded prompt batches.</summary>
public sealed class TaskEncodingTests
{
    private static readonly TextTokenizer Tokenizer = TextTokenizer.Load(Path.Combine(AppContext.BaseDirectory, "data", "tokenizer"));

    private static TaskEncoder Classifier(int maxLength = 64, string? words = null) =>
        new(Tokenizer, TaskKind.Classification, maxLength, LabelWords.Parse(words, ["negative", "positive"]));

    [Fact]
    public void LabelWordsParseEveryLabelAndRejectUnknownOrMissingOnes()
    {
        var w = LabelWords.Parse("negative=bad, positive=good", ["negative", "positive"]);
        Assert.Equal(["bad", "good"], w.Words);
        Assert.Equal(["negative", "positive"], LabelWords.Parse(null, ["negative", "positive"]).Words);
        Assert.Contains("no word for label positive", Assert.Throws<ArgumentException>(() => LabelWords.Parse("negative=bad", ["negative", "positive"])).Message);
        Assert.Contains("'neutral' is not a label", Assert.Throws<ArgumentException>(() => LabelWords.Parse("negative=bad,positive=good,neutral=meh", ["negative", "positive"])).Message);
        Assert.Contains("not label=word", Assert.Throws<ArgumentException>(() => LabelWords.Parse("negative", ["negative", "positive"])).Message);
    }

    [Fact]
    public void LabelWordsSharingTheirFirstTokenAreAnErrorNamingBothLabels()
    {
        var e = Assert.Throws<ArgumentException>(() => new TaskEncoder(Tokenizer, TaskKind.Classification, 64,
            LabelWords.Parse("a=wonderful,b=wonderfully,c=bad", ["a", "b", "c"])));
        Assert.Contains("labels 'a' (\"wonderful\") and 'b' (\"wonderfully\") all start with token", e.Message);
        Assert.DoesNotContain("'c'", e.Message);
        var ok = Classifier(words: "negative=bad,positive=good");
        Assert.Equal(2, ok.LabelTokenIds.Distinct().Count());
        Assert.Equal(Tokenizer.Encode(" good")[0], ok.LabelTokenIds[1]);
    }

    [Fact]
    public void DefaultLabelStringsThatCollideFallBackToLettersButAnExplicitSpecIsAnError()
    {
        TaskExample Row(string label) => new("some text", null, label, "t");
        var task = TaskData.Create(TaskKind.Classification, [Row("wonderful"), Row("wonderfully"), Row("bad")], [], []);
        var e = TaskEncoder.For(task, Tokenizer, 64);
        Assert.Equal(["A", "B", "C"], e.LabelWords!.Words);
        Assert.Equal(3, e.LabelTokenIds.Distinct().Count());
        Assert.Equal(task.Labels, e.LabelWords.Labels);
        Assert.Throws<ArgumentException>(() => TaskEncoder.For(task, Tokenizer, 64, "wonderful=good,wonderfully=goodly,bad=bad"));
        var plain = TaskData.Create(TaskKind.Classification, [Row("negative"), Row("positive")], [], []);
        Assert.Equal(["negative", "positive"], TaskEncoder.For(plain, Tokenizer, 64).LabelWords!.Words);
    }

    [Fact]
    public void TruncationCutsTheLongerTextAndKeepsTheAnswer()
    {
        var enc = new TaskEncoder(Tokenizer, TaskKind.Classification, 40, LabelWords.Default(["no", "yes"]));
        var longText = string.Join(" ", Enumerable.Repeat("It was a truth universally acknowledged.", 20));
        var row = new TaskExample(longText, "A short claim.", "yes", "mem:1");
        var e = enc.Encode(row);
        Assert.True(e.Truncated);
        Assert.Equal(40, e.Length);
        Assert.Equal(Tokenizer.Encode(" yes"), e.Answer);
        var pair = Tokenizer.Encode("A short claim.");
        Assert.True(e.Prompt.AsSpan().IndexOf(pair) > 0, "the short text of the pair is kept whole");
        Assert.Equal(Tokenizer.Encode("\nLabel:"), e.Prompt[^Tokenizer.Encode("\nLabel:").Length..]);

        var sum = new TaskEncoder(Tokenizer, TaskKind.Summarization, 30);
        var s = sum.Encode(new TaskExample(longText, null, "Truth and wives.", "mem:2"));
        Assert.Equal(30, s.Length);
        Assert.Equal([.. Tokenizer.Encode(" Truth and wives."), sum.EosId], s.Answer);

        var tiny = new TaskEncoder(Tokenizer, TaskKind.Summarization, 8);
        var err = Assert.Throws<InvalidDataException>(() => tiny.Encode(new TaskExample("doc", null, "a summary far too long to fit in eight tokens", "mem:3")));
        Assert.Contains("mem:3: the template", err.Message);
        Assert.Contains("maximum length 8", err.Message);
    }

    [Fact]
    public void TrainingBatchesAreRightPaddedWithTargetsOnlyOnAnswerTokens()
    {
        var enc = new TaskEncoder(Tokenizer, TaskKind.Summarization, 64);
        var rows = new[] { new TaskExample("A much longer document about many things.", null, "Many things.", "m:1"), new TaskExample("Short.", null, "S.", "m:2") };
        var encoded = rows.Select(enc.Encode).ToArray();
        var batch = TaskBatches.Training(encoded, enc.PadId);
        // padded to a multiple of 8 positions (so batch shapes recur), never beyond the limit given
        int longest = encoded.Max(r => r.Length) - 1, t = (longest + TaskBatches.LengthMultiple - 1) / TaskBatches.LengthMultiple * TaskBatches.LengthMultiple;
        Assert.Equal([2, t], batch.InputIds.Shape);
        Assert.Equal([2, longest], TaskBatches.Training(encoded, enc.PadId, longest).InputIds.Shape);
        var ids = batch.InputIds.ToArray<long>();
        var targets = batch.Targets.ToArray<long>();
        var mask = batch.AttentionMask!.ToArray<long>();
        for (int r = 0; r < 2; r++)
        {
            var e = encoded[r];
            int[] full = [.. e.Prompt, .. e.Answer];
            for (int i = 0; i < t; i++)
            {
                bool real = i < full.Length - 1;
                Assert.Equal(real ? 1 : 0, mask[r * t + i]);
                Assert.Equal(real ? full[i] : enc.PadId, ids[r * t + i]);
                long expected = real && i + 1 >= e.Prompt.Length ? full[i + 1] : TaskBatches.IgnoreIndex;
                Assert.Equal(expected, targets[r * t + i]);
            }
            Assert.Equal(e.Answer.Length, Enumerable.Range(0, t).Count(i => targets[r * t + i] != TaskBatches.IgnoreIndex));
            Assert.Equal(e.Answer[0], targets[r * t + e.Prompt.Length - 1]);
            Assert.Equal(enc.EosId, targets[r * t + full.Length - 2]);
        }
    }

    [Fact]
    public void PromptBatchesAreLeftPaddedSoTheLastPositionIsTheLastPromptToken()
    {
        var enc = Classifier();
        var rows = new[] { new TaskExample("I loved every minute of this wonderful film.", null, "positive", "m:1"), new TaskExample("Dull.", null, "negative", "m:2") };
        var encoded = rows.Select(enc.Encode).ToArray();
        var b = TaskBatches.Prompts(encoded, enc.PadId);
        int t = b.InputIds.Shape[1];
        Assert.Equal(encoded.Max(e => e.Prompt.Length), t);
        var ids = b.InputIds.ToArray<long>();
        var mask = b.AttentionMask.ToArray<long>();
        for (int r = 0; r < 2; r++)
        {
            var p = encoded[r].Prompt;
            int pad = t - p.Length;
            for (int i = 0; i < t; i++)
            {
                Assert.Equal(i < pad ? 0 : 1, mask[r * t + i]);
                Assert.Equal(i < pad ? enc.PadId : p[i - pad], ids[r * t + i]);
            }
        }
        Assert.Equal([1, 0], b.Labels);
        Assert.Equal(new[] { t - 1, t - 1 }, BitDistill.Models.Classification.LastTokenPooling.Positions(2, t, b.AttentionMask));
    }

    [Fact]
    public void BatchAtIsAFunctionOfSeedAndStepAndCoversEachEpochOnce()
    {
        var enc = Classifier();
        var rows = Enumerable.Range(0, 10).Select(i => new TaskExample($"review {i}", null, i % 2 == 0 ? "positive" : "negative", $"m:{i}")).ToArray();
        var task = enc.EncodeAll(rows);
        var first = new EncodedTask(task.Rows, task.Kind, task.PadId);
        Assert.Equal(task.BatchAt(3, 4, 9).InputIds.ToArray<long>(), first.BatchAt(3, 4, 9).InputIds.ToArray<long>());
        Assert.Equal(Enumerable.Range(0, 10), task.Permutation(0, 9).Order());
        Assert.NotEqual(task.Permutation(0, 9), task.Permutation(1, 9));
        Assert.Equal(10, task.PromptBatches(4).Sum(b => b.Labels.Length));
        Assert.Equal(3, task.TrainingBatches(4).Count());
    }
}
