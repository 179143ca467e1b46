using System.Text.Json;
using BitDistill.Models.Tokenization;

namespace BitDistill.Tests;

/// <summary>The real Gemma 3 tokenizer (SentencePiece-style BPE, 262,144 entries, read from tokenizer.json.gz) loaded once.</summary>
public sealed class GemmaTokenizerFixture
{
    /// <summary>Folder of the Gemma 3 tokenizer fixture in the test output.</summary>
    public static string Dir => Path.Combine(TokenizerFixture.Dir, "gemma3");

    /// <summary>The tokenizer.</summary>
    public TextTokenizer Gemma3 { get; } = TextTokenizer.Load(Dir);

    /// <summary>The lines of expected.jsonl.</summary>
    public IReadOnlyList<(string Text, int[] Ids)> Expected { get; } = File.ReadLines(Path.Combine(Dir, "expected.jsonl"))
        .Where(l => l.Length > 0)
        .Select(l => JsonDocument.Parse(l).RootElement)
        .Select(e => (e.GetProperty("text").GetString()!, e.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray()))
        .ToList();
}
