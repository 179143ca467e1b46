using System.Buffers;
using System.CommandLine;
using System.Diagnostics;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using BitDistill.Models.Tokenization;

namespace BitDistill.Cli;

/// <summary>The `tokenize` and `tokenizer train` verbs.</summary>
public static class TokenizeCommands
{
    /// <summary>`bitdistill tokenize --tokenizer PATH --jsonl FILE`: prints {"text", "ids"} per input line, no special tokens added.</summary>
    public static Command Tokenize()
    {
        var tokenizerOpt = new Option<string>("--tokenizer") { Description = "tokenizer.json, or a folder holding one (or GPT-2 vocab.json + merges.txt)", Required = true };
        var jsonlOpt = new Option<string>("--jsonl") { Description = "input JSONL: one {\"text\": ...} per line ('-' for stdin)", Required = true };
        var parseSpecial = new Option<bool>("--parse-special") { Description = "turn special-token text such as <|im_end|> into its id (default: tokenize it as ordinary text, as for untrusted data)" };
        var cmd = new Command("tokenize", "Tokenize the \"text\" of each JSONL line; prints {\"text\": ..., \"ids\": [...]} per line (no special tokens added).");
        cmd.Options.Add(tokenizerOpt);
        cmd.Options.Add(jsonlOpt);
        cmd.Options.Add(parseSpecial);
        cmd.SetAction(parse => ErrorPolicy.Run("tokenize", parse, () => RunTokenize(parse.GetValue(tokenizerOpt)!, parse.GetValue(jsonlOpt)!, parse.GetValue(parseSpecial))));
        return cmd;
    }

    /// <summary>`bitdistill tokenizer train --vocab-size N [--output DIR] FILES…`: trains a byte-level BPE tokenizer.</summary>
    public static Command Tokenizer()
    {
        var vocabOpt = new Option<int>("--vocab-size") { Description = "total vocabulary size (256 bytes + merges + 3 special tokens)", Required = true };
        var outOpt = new Option<string>("--output") { Description = "folder for tokenizer.json and tokenizer_config.json", DefaultValueFactory = _ => "tokenizer" };
        var minFreqOpt = new Option<int>("--min-frequency") { Description = "minimum pair count for a merge", DefaultValueFactory = _ => 2 };
        var overwriteOpt = new Option<bool>("--overwrite") { Description = "write into a non-empty --output folder that another verb wrote" };
        var filesArg = new Argument<string[]>("files") { Description = "plain text, JSONL with a \"text\" field (.jsonl), optionally .gz", Arity = ArgumentArity.OneOrMore };
        var train = new Command("train", "Train a byte-level BPE tokenizer (Qwen split regex, <|endoftext|> <|im_start|> <|im_end|>) and write a Hugging Face tokenizer.json.");
        train.Options.Add(vocabOpt);
        train.Options.Add(outOpt);
        train.Options.Add(minFreqOpt);
        train.Options.Add(overwriteOpt);
        train.Arguments.Add(filesArg);
        train.SetAction(parse => ErrorPolicy.Run("tokenizer train", parse, () =>
            RunTrain(parse.GetValue(vocabOpt), parse.GetValue(outOpt)!, parse.GetValue(minFreqOpt), parse.GetValue(filesArg)!, parse.GetValue(overwriteOpt))));
        var cmd = new Command("tokenizer", "Tokenizer tools.");
        cmd.Subcommands.Add(train);
        return cmd;
    }

    static string OneLine(string s) => s.ReplaceLineEndings(" ");

    static int RunTokenize(string tokenizerPath, string jsonlPath, bool parseSpecial)
    {
        var tokenizer = TextTokenizer.Load(tokenizerPath);
        try { Console.OutputEncoding = new UTF8Encoding(false); } catch (Exception e) when (e is IOException or PlatformNotSupportedException) { }
        using var reader = jsonlPath == "-" ? new StreamReader(Console.OpenStandardInput(), Encoding.UTF8) : OpenText(jsonlPath);
        var buffer = new ArrayBufferWriter<byte>();
        var writerOptions = new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        var output = Console.Out;
        int lineNo = 0;
        string? line;
        while ((line = reader.ReadLine()) != null)
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            string text = ReadTextField(line, jsonlPath, lineNo);
            var ids = tokenizer.Encode(text, parseSpecialTokens: parseSpecial);
            buffer.Clear();
            using (var w = new Utf8JsonWriter(buffer, writerOptions))
            {
                w.WriteStartObject();
                w.WriteString("text", text);
                w.WriteStartArray("ids");
                foreach (int id in ids) w.WriteNumberValue(id);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            output.Write(Encoding.UTF8.GetString(buffer.WrittenSpan));
            output.Write('\n');
        }
        output.Flush();
        return 0;
    }

    static string ReadTextField(string line, string file, int lineNo)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String)
                return t.GetString()!;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new UsageException($"{file}:{lineNo}: malformed JSON line ({OneLine(e.Message)})");
        }
        throw new UsageException($"{file}:{lineNo}: expected a JSON object with a string field \"text\"");
    }

    static StreamReader OpenText(string path)
    {
        if (!File.Exists(path)) throw new UsageException($"{path}: file not found");
        Stream s = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? BitDistill.Distill.Data.VerifiedGzipStream.Open(path) : File.OpenRead(path);
        return new StreamReader(s, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
    }

    static int RunTrain(int vocabSize, string output, int minFrequency, string[] files, bool overwrite)
    {
        const int maxVocab = 1 << 22;
        if (vocabSize < 259 || vocabSize > maxVocab) throw new UsageException($"--vocab-size: {vocabSize} is out of range (259 .. {maxVocab}: 256 bytes + 3 special tokens at least)");
        if (minFrequency < 1) throw new UsageException($"--min-frequency: {minFrequency} must be at least 1");
        foreach (var f in files) if (!File.Exists(f)) throw new UsageException($"{f}: file not found");
        using var claimed = OutputFolder.Claim("tokenizer train", output, overwrite, files);
        var sw = Stopwatch.StartNew();
        var options = new BpeTrainerOptions { MinFrequency = minFrequency, Progress = new SyncProgress(m => Console.Error.WriteLine(m)) };
        BpeTrainingResult result;
        try { result = BpeTrainer.Train(ReadCorpus(files), vocabSize, options); }
        catch (InvalidDataException e) when (e.Message.StartsWith("no text", StringComparison.Ordinal))
        {
            throw new UsageException($"{string.Join(", ", files)}: {e.Message}; a tokenizer trained on it would hold only the byte tokens");
        }
        result.Save(claimed.Path);
        Console.Error.WriteLine($"wrote {Path.Combine(output, "tokenizer.json")} (vocab {result.VocabSize:N0}, {result.Merges.Count:N0} merges) in {sw.Elapsed.TotalSeconds:F1} s");
        return 0;
    }

    /// <summary>Texts of the training files: JSONL "text" fields, or plain text in chunks of whole lines.</summary>
    static IEnumerable<string> ReadCorpus(string[] files)
    {
        foreach (var file in files)
        {
            Console.WriteLine($"reading {file}");
            string name = file.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? file[..^3] : file;
            bool jsonl = name.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase);
            using var reader = OpenText(file);
            var chunk = new StringBuilder();
            int lineNo = 0;
            string? line;
            while ((line = ReadLineChecked(reader, file)) != null)
            {
                lineNo++;
                if (jsonl)
                {
                    if (!string.IsNullOrWhiteSpace(line)) yield return ReadTextField(line, file, lineNo);
                    continue;
                }
                chunk.Append(line).Append('\n');
                if (chunk.Length >= 1 << 16)
                {
                    yield return chunk.ToString();
                    chunk.Clear();
                }
            }
            if (chunk.Length > 0) yield return chunk.ToString();
        }
    }

    static string? ReadLineChecked(StreamReader reader, string file)
    {
        try { return reader.ReadLine(); }
        catch (InvalidDataException e) { throw new UsageException($"{file}: cannot decompress ({OneLine(e.Message)})"); }
    }

    /// <summary>Reports on the calling thread (Progress&lt;T&gt; would post to the thread pool and reorder lines).</summary>
    sealed class SyncProgress(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }
}
