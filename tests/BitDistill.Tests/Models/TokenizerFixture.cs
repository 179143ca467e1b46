using System.Text.Json;
using BitDistill.Models.Tokenization;

namespace BitDistill.Tests;

/// <summary>Shared tokenizers loaded once (the Qwen3 file is 5 MB).</summary>
public sealed class TokenizerFixture
{
    /// <summary>Folder of the tokenizer fixtures in the test output.</summary>
    public static string Dir => Path.Combine(AppContext.BaseDirectory, "Fixtures", "tokenizers");

    /// <summary>The real Qwen3 tokenizer.</summary>
    public TextTokenizer Qwen3 { get; } = TextTokenizer.Load(Path.Combine(Dir, "qwen3"));

    /// <summary>GPT-2 from encoder.json + vocab.bpe.</summary>
    public TextTokenizer Gpt2 { get; } = TextTokenizer.Load(Path.Combine(Dir, "gpt2"));

    /// <summary>The lines of expected.jsonl.</summary>
    public IReadOnlyList<(string Text, int[] Ids)> Expected { get; } = File.ReadLines(Path.Combine(Dir, "qwen3", "expected.jsonl"))
        .Where(l => l.Length > 0)
        .Select(l => JsonDocument.Parse(l).RootElement)
        .Select(e => (e.GetProperty("text").GetString()!, e.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray()))
        .ToList();
}
