using System.Text.Json.Nodes;
using BitDistill.Models.Tokenization;

namespace BitDistill.Tests.Models;

/// <summary>A tokenizer.json with a catastrophically backtracking split pattern fails with a message naming the pattern
/// instead of hanging tokenize and generate.</summary>
public class HostileTokenizerTests
{
    [Fact]
    public void ABacktrackingPatternFailsNamingItInsteadOfHanging()
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "data", "tokenizer", "tokenizer.json")))!;
        json["pre_tokenizer"]!["pretokenizers"]![0]!["pattern"]!["Regex"] = "(a+)+$";
        var tok = TextTokenizer.FromJson(json.ToJsonString(), source: "hostile/tokenizer.json");
        Assert.NotEmpty(tok.Encode("aaa")); // harmless input still works
        var e = Assert.Throws<TokenizerFormatException>(() => tok.Encode(new string('a', 48) + "!"));
        Assert.Contains("(a+)+$", e.Message);
        Assert.Contains("hostile/tokenizer.json", e.Message);
    }
}
