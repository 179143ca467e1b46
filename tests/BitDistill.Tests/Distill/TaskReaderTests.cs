using BitDistill.Distill.Data;
using Parquet;
using Parquet.Schema;

namespace BitDistill.Tests.Distill;

/// <summary>Task-file readers on small committed fixtures: every format, GLUE and CNN/DailyMail layouts by header, bad rows
/// (errors naming file, line and field; --skip-bad-rows counts), CSV quoting, Parquet round trip.</summary>
public sealed class TaskReaderTests
{
    private static string Fixture(string name) => TestUtil.FixturePath("tasks", name);

    [Fact]
    public void GlueSst2IsRecognisedByItsHeaderAndATooLongRowNamesItsLine()
    {
        var e = Assert.Throws<InvalidDataException>(() => TaskFile.Read(Fixture("sst2.tsv"), TaskKind.Classification));
        Assert.Contains("sst2.tsv:4", e.Message);
        Assert.Contains("3 fields, the header has 2", e.Message);
        var f = TaskFile.Read(Fixture("sst2.tsv"), TaskKind.Classification, skipBadRows: true);
        Assert.Equal("GLUE SST-2", f.Layout);
        Assert.Equal(TableFormat.Tsv, f.Format);
        Assert.Equal(3, f.Rows.Count);
        Assert.Equal(["1", "0", "1"], f.Rows.Select(r => r.Answer));
        Assert.Null(f.Rows[0].TextPair);
        Assert.Equal(1, f.BadRows.Count);
        Assert.Contains("sst2.tsv:4", f.BadRows.FirstMessages[0]);
    }

    [Fact]
    public void GlueMnliMatchedAndMismatchedDevFilesAreReadAsPairsWithGoldLabels()
    {
        foreach (var name in new[] { "mnli_dev_matched.tsv", "mnli_dev_mismatched.tsv" })
        {
            var f = TaskFile.Read(Fixture(name), TaskKind.Classification);
            Assert.Equal("GLUE MNLI", f.Layout);
            Assert.Equal(["neutral", "contradiction", "entailment"], f.Rows.Select(r => r.Answer));
            Assert.Equal("The new rights are nice enough", f.Rows[0].Text);
            Assert.Equal("Everyone really likes the newest benefits ", f.Rows[0].TextPair);
            Assert.EndsWith(name + ":2", f.Rows[0].Origin);
        }
    }

    [Fact]
    public void AGlueTestFileWithoutLabelsIsAnErrorThatSaysSo()
    {
        var dir = Directory.CreateTempSubdirectory();
        try
        {
            var path = Path.Combine(dir.FullName, "test_matched.tsv");
            File.WriteAllText(path, "index\tpromptID\tpairID\tgenre\tsentence1\tsentence2\n0\t1\t1n\tslate\tA premise.\tA hypothesis.\n");
            var e = Assert.Throws<InvalidDataException>(() => TaskFile.Read(path, TaskKind.Classification));
            Assert.Contains("test_matched.tsv: no text field", e.Message);
            Assert.Contains("GLUE's test files carry no labels", e.Message);
            var named = Assert.Throws<InvalidDataException>(() => TaskFile.Read(path, TaskKind.Classification, new TaskFields("sentence1", "sentence2", "gold_label")));
            Assert.Contains("the label field 'gold_label' is missing", named.Message);
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void GlueQnliIsReadAsQuestionSentencePairs()
    {
        var f = TaskFile.Read(Fixture("qnli_dev.tsv"), TaskKind.Classification);
        Assert.Equal("GLUE QNLI", f.Layout);
        Assert.StartsWith("What came into force", f.Rows[0].Text);
        Assert.StartsWith("As of that day", f.Rows[0].TextPair);
        Assert.Equal(["entailment", "not_entailment"], f.Rows.Select(r => r.Answer));
    }

    [Fact]
    public void CsvQuotedFieldsKeepCommasQuotesAndLineBreaksAndAnEmptyFieldIsABadRow()
    {
        var e = Assert.Throws<InvalidDataException>(() => TaskFile.Read(Fixture("cnn.csv"), TaskKind.Summarization));
        Assert.Contains("cnn.csv:5", e.Message);
        Assert.Contains("document field 'article' is empty", e.Message);
        var f = TaskFile.Read(Fixture("cnn.csv"), TaskKind.Summarization, skipBadRows: true);
        Assert.Equal("CNN/DailyMail", f.Layout);
        Assert.Equal(2, f.Rows.Count);
        Assert.Equal("The article, with a comma.\r\nA second line with \"quoted\" words.", f.Rows[0].Text);
        Assert.Equal("Short summary, with comma.", f.Rows[0].Answer);
        Assert.EndsWith("cnn.csv:4", f.Rows[1].Origin);
        Assert.Equal("Plain article without quotes", f.Rows[1].Text);
        Assert.Equal(1, f.BadRows.Count);
    }

    [Fact]
    public void CsvTextAfterAClosingQuoteIsAMalformedRowAndAnUnterminatedQuoteFailsTheFile()
    {
        var e = Assert.Throws<InvalidDataException>(() => TaskFile.Read(Fixture("csv_trailing_text.csv"), TaskKind.Summarization));
        Assert.Contains("csv_trailing_text.csv:2", e.Message);
        Assert.Contains("field 3: text after the closing quote", e.Message);
        var u = Assert.Throws<InvalidDataException>(() => TaskFile.Read(Fixture("csv_unterminated.csv"), TaskKind.Summarization, skipBadRows: true));
        Assert.Contains("csv_unterminated.csv:2", u.Message);
        Assert.Contains("unterminated quoted field", u.Message);
    }

    [Fact]
    public void CnnDailyMailJsonlIsRecognised()
    {
        var f = TaskFile.Read(Fixture("cnn.jsonl"), TaskKind.Summarization);
        Assert.Equal(("CNN/DailyMail", TableFormat.JsonLines), (f.Layout, f.Format));
        Assert.Equal(["One.", "Two."], f.Rows.Select(r => r.Answer));
    }

    [Fact]
    public void JsonlMalformedLineAndMissingLabelNameFileLineAndFieldOrAreCounted()
    {
        var e = Assert.Throws<InvalidDataException>(() => TaskFile.Read(Fixture("reviews.jsonl"), TaskKind.Classification));
        Assert.Contains("reviews.jsonl:3: malformed JSON", e.Message);
        var f = TaskFile.Read(Fixture("reviews.jsonl"), TaskKind.Classification, skipBadRows: true);
        Assert.Equal(3, f.Rows.Count);
        Assert.Equal(2, f.BadRows.Count);
        Assert.Contains("reviews.jsonl:5: label field 'label' is missing", f.BadRows.FirstMessages[1]);
        Assert.Contains("skipped 2 bad rows", f.BadRows.ToString());
    }

    [Fact]
    public void JsonArrayWithIntegerLabelsNamesTheElementOfANullLabelAndIgnoresUnusedNestedFields()
    {
        var e = Assert.Throws<InvalidDataException>(() => TaskFile.Read(Fixture("numeric.json"), TaskKind.Classification));
        Assert.Contains("numeric.json: element 2: label field 'label' is null", e.Message);
        var f = TaskFile.Read(Fixture("numeric.json"), TaskKind.Classification, skipBadRows: true);
        Assert.Equal(TableFormat.JsonArray, f.Format);
        Assert.Equal(["1", "0", "1"], f.Rows.Select(r => r.Answer));
        var nested = Assert.Throws<InvalidDataException>(() => TaskFile.Read(Fixture("numeric.json"), TaskKind.Classification, new TaskFields(Label: "meta")));
        Assert.Contains("numeric.json: element 0: label field 'meta' is a JSON Object", nested.Message);
    }

    [Fact]
    public void AMissingFieldIsAnErrorNamingItAndTheColumnsThereAre()
    {
        var e = Assert.Throws<InvalidDataException>(() => TaskFile.Read(Fixture("sst2.tsv"), TaskKind.Classification, new TaskFields(Label: "polarity")));
        Assert.Contains("the label field 'polarity' is missing", e.Message);
        Assert.Contains("'sentence', 'label'", e.Message);
        var none = Assert.Throws<InvalidDataException>(() => TaskFile.Read(Fixture("sst2.tsv"), TaskKind.Summarization));
        Assert.Contains("no document field", none.Message);
        Assert.Contains("--document-field", none.Message);
    }

    [Fact]
    public void AFileWithNoUsableRowIsAnErrorEvenWhenSkippingBadRows()
    {
        var dir = Directory.CreateTempSubdirectory();
        try
        {
            var path = Path.Combine(dir.FullName, "empty.csv");
            File.WriteAllText(path, "text,label\n,\n");
            var e = Assert.Throws<InvalidDataException>(() => TaskFile.Read(path, TaskKind.Classification, skipBadRows: true));
            Assert.Contains("empty.csv: no usable row (1 bad rows skipped", e.Message);
            File.WriteAllText(path, "text,label\n");
            Assert.Contains("no data rows", Assert.Throws<InvalidDataException>(() => TaskFile.Read(path, TaskKind.Classification)).Message);
            File.WriteAllBytes(path, [.. "text,label\nok,1\n"u8, 0xC3, 0x28, (byte)',', (byte)'0', (byte)'\n']);
            Assert.Contains("empty.csv: not valid UTF-8", Assert.Throws<InvalidDataException>(() => TaskFile.Read(path, TaskKind.Classification)).Message);
            Assert.Single(TaskFile.Read(Fixture("sst2.tsv"), TaskKind.Classification, maxRows: 1).Rows);
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public async Task ParquetTaskFileRoundTripsThroughParquetNetWithStringAndIntegerColumns()
    {
        var dir = Directory.CreateTempSubdirectory();
        try
        {
            var path = Path.Combine(dir.FullName, "task.parquet");
            var text = new DataField<string>("sentence");
            var label = new DataField<long>("label");
            await using (var fs = File.Create(path))
            {
                await using var w = await ParquetWriter.CreateAsync(new ParquetSchema(text, label), fs);
                foreach (var (texts, labels) in new[] { (new[] { "good film", "bad film" }, new long[] { 1, 0 }), (new[] { "fine, with a comma" }, new long[] { 1 }) })
                {
                    using var g = w.CreateRowGroup();
                    await g.WriteAsync(text, texts);
                    await g.WriteAsync(label, new ReadOnlyMemory<long>(labels));
                }
            }
            Assert.Equal(TableFormat.Parquet, TableReader.DetectFormat(path));
            var f = TaskFile.Read(path, TaskKind.Classification);
            Assert.Equal("GLUE SST-2", f.Layout);
            Assert.Equal(["good film", "bad film", "fine, with a comma"], f.Rows.Select(r => r.Text));
            Assert.Equal(["1", "0", "1"], f.Rows.Select(r => r.Answer));
            Assert.EndsWith("task.parquet: row 2", f.Rows[2].Origin);

            var corpus = Path.Combine(dir.FullName, "corpus.parquet");
            var field = new DataField<string>("text");
            await using (var fs = File.Create(corpus))
            {
                await using var w = await ParquetWriter.CreateAsync(new ParquetSchema(field), fs);
                using var g = w.CreateRowGroup();
                await g.WriteAsync(field, new[] { "First document.", "Second document." });
            }
            Assert.Equal(["First document.", "Second document."], TextCorpus.ReadDocuments(corpus));
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void FormatIsDetectedByExtensionAndOtherwiseByContent()
    {
        var dir = Directory.CreateTempSubdirectory();
        try
        {
            (string Name, string Content, TableFormat Expected)[] cases =
            [
                ("a.data", "[{\"text\": \"x\", \"label\": \"y\"}]", TableFormat.JsonArray),
                ("b.data", "{\"text\": \"x\", \"label\": \"y\"}\n", TableFormat.JsonLines),
                ("c.data", "text\tlabel\nx\ty\n", TableFormat.Tsv),
                ("d.data", "text,label\nx,y\n", TableFormat.Csv),
                ("e.json", "{\"text\": \"x\", \"label\": \"y\"}\n", TableFormat.JsonLines),
            ];
            foreach (var (name, content, expected) in cases)
            {
                var p = Path.Combine(dir.FullName, name);
                File.WriteAllText(p, content);
                Assert.Equal(expected, TableReader.DetectFormat(p));
                Assert.Equal("y", TaskFile.Read(p, TaskKind.Classification).Rows[0].Answer);
            }
        }
        finally { dir.Delete(true); }
    }
}
