namespace BitDistill.Distill.Data;

/// <summary>The three tasks shipped in the repository's data/tasks/ (compact, deterministic derivatives of public data, see
/// data/README.md): <c>sentiment</c> (UCI sentences → negative/positive), <c>debian-match</c> (does this one-line summary
/// belong to this Debian package description → yes/no; a sentence-pair task standing in for NLI) and <c>debian-summary</c>
/// (Debian long description → its one-line summary). <see cref="Options"/> loads one; the Write methods regenerate them
/// from ../shared/data.</summary>
public static class ShippedTasks
{
    /// <summary>The shipped task names.</summary>
    public static IReadOnlyList<string> Names { get; } = ["sentiment", "debian-match", "debian-summary"];

    /// <summary>Load options for shipped task <paramref name="name"/> under <paramref name="dataDir"/> (the repository's data/
    /// folder): its train and test files, validation carved from train (10 %, by <paramref name="seed"/>).</summary>
    public static TaskDataOptions Options(string dataDir, string name, ulong seed = 0)
    {
        if (!Names.Contains(name)) throw new ArgumentException($"no shipped task '{name}' (there are: {string.Join(", ", Names)})", nameof(name));
        var dir = Path.Combine(dataDir, "tasks", name);
        return new TaskDataOptions
        {
            Kind = name == "debian-summary" ? TaskKind.Summarization : TaskKind.Classification,
            Train = Path.Combine(dir, "train.jsonl.gz"),
            Test = Path.Combine(dir, "test.jsonl.gz"),
            ValidationFraction = 0.1,
            Seed = seed,
        };
    }

    /// <summary>Sentiment: imdb.json and amazon.json of <paramref name="sentimentDir"/>, exact duplicate sentences dropped;
    /// test = the <paramref name="testPerClassAndSource"/> rows of lowest seeded hash in each (source, label) stratum, so
    /// test is balanced; the rest is train. Returns (train, test) row counts.</summary>
    public static (int Train, int Test) WriteSentiment(string sentimentDir, string outDir, int testPerClassAndSource = 100, ulong seed = 1)
    {
        var rows = new List<(string Source, TaskExample Row)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var source in new[] { "imdb", "amazon" })
            foreach (var r in SourceReaders.UciSentiment(Path.Combine(sentimentDir, source + ".json")))
                if (seen.Add(r.Text)) rows.Add((source, r));
        var test = rows.GroupBy(r => (r.Source, r.Row.Answer))
            .SelectMany(g => g.OrderBy(r => TaskSplitter.Hash(r.Row.Text, seed)).ThenBy(r => r.Row.Text, StringComparer.Ordinal).Take(testPerClassAndSource))
            .Select(r => r.Row.Text).ToHashSet(StringComparer.Ordinal);
        IReadOnlyList<(string, string)> Json((string Source, TaskExample Row) r) => [("text", r.Row.Text), ("label", r.Row.Answer), ("source", r.Source)];
        var train = rows.Where(r => !test.Contains(r.Row.Text)).ToArray();
        var testRows = rows.Where(r => test.Contains(r.Row.Text)).ToArray();
        SourceReaders.WriteJsonl(Path.Combine(outDir, "sentiment", "train.jsonl.gz"), train.Select(Json));
        SourceReaders.WriteJsonl(Path.Combine(outDir, "sentiment", "test.jsonl.gz"), testRows.Select(Json));
        return (train.Length, testRows.Length);
    }

    /// <summary>The Debian records usable for the shipped tasks: unique package names; descriptions of
    /// <paramref name="minChars"/>..<paramref name="maxChars"/> characters that occur for one package only; summaries of at
    /// least 10 characters that occur for one package only (so a pair's answer is never ambiguous); sorted by package name.</summary>
    public static List<DebianDescription> UsableDebian(string path, int minChars, int maxChars)
    {
        var all = SourceReaders.Debian(path).GroupBy(d => d.Package, StringComparer.Ordinal).Select(g => g.First()).ToList();
        var descCount = all.GroupBy(d => d.Description, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var sumCount = all.GroupBy(d => d.Summary.ToLowerInvariant(), StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        return all.Where(d => d.Description.Length >= minChars && d.Description.Length <= maxChars && d.Summary.Length >= 10
                && descCount[d.Description] == 1 && sumCount[d.Summary.ToLowerInvariant()] == 1)
            .OrderBy(d => d.Package, StringComparer.Ordinal).ToList();
    }

    /// <summary>Debian match (sentence pairs): from the usable records (<see cref="UsableDebian"/>, descriptions of
    /// 80..320 characters), <paramref name="trainPackages"/> + <paramref name="testPackages"/> packages chosen by seeded hash
    /// (test and train packages disjoint). Each gives a positive row (its description, its own summary, "yes") and a negative
    /// row (its description, another package's summary, "no"): for packages whose seeded hash is even, a HARD negative, the
    /// summary of the package nearest in sorted name order with the longest common name prefix (at least 3 characters, e.g.
    /// python3-foo / python3-foobar), otherwise or when none exists, a random usable package. Labels are balanced exactly.</summary>
    public static (int Train, int Test, int Hard) WriteDebianMatch(string debianPath, string outDir, int trainPackages = 500, int testPackages = 150, ulong seed = 2)
    {
        var pool = UsableDebian(debianPath, 80, 320);
        var chosen = pool.Select((d, i) => (d, i)).OrderBy(p => TaskSplitter.Hash(p.d.Package, seed)).ThenBy(p => p.d.Package, StringComparer.Ordinal)
            .Take(trainPackages + testPackages).ToArray();
        int hard = 0;
        List<IReadOnlyList<(string, string)>> Rows(IEnumerable<(DebianDescription d, int i)> packages)
        {
            var rows = new List<IReadOnlyList<(string, string)>>();
            foreach (var (d, i) in packages.OrderBy(p => p.d.Package, StringComparer.Ordinal))
            {
                ulong h = TaskSplitter.Hash(d.Package, seed + 1);
                int neg = (h & 1) == 0 ? HardNegative(pool, i) : -1;
                string kind = "hard";
                if (neg < 0)
                {
                    kind = "random";
                    neg = (int)(h % (ulong)pool.Count);
                    if (neg == i) neg = (neg + 1) % pool.Count;
                }
                else hard++;
                rows.Add([("text", d.Description), ("text_pair", d.Summary), ("label", "yes"), ("package", d.Package), ("negative", "")]);
                rows.Add([("text", d.Description), ("text_pair", pool[neg].Summary), ("label", "no"), ("package", d.Package), ("negative", $"{kind}:{pool[neg].Package}")]);
            }
            return rows;
        }
        var train = Rows(chosen.Take(trainPackages));
        var test = Rows(chosen.Skip(trainPackages));
        SourceReaders.WriteJsonl(Path.Combine(outDir, "debian-match", "train.jsonl.gz"), train);
        SourceReaders.WriteJsonl(Path.Combine(outDir, "debian-match", "test.jsonl.gz"), test);
        return (train.Count, test.Count, hard);
    }

    /// <summary>The index of the hard negative for pool[i] (see <see cref="WriteDebianMatch"/>), or −1.</summary>
    internal static int HardNegative(IReadOnlyList<DebianDescription> pool, int i)
    {
        int best = -1, bestLen = 2;
        for (int d = 1; d <= 20; d++)
            foreach (int j in new[] { i - d, i + d })
            {
                if (j < 0 || j >= pool.Count) continue;
                int len = CommonPrefix(pool[i].Package, pool[j].Package);
                if (len > bestLen) { best = j; bestLen = len; }
            }
        return best;
    }

    private static int CommonPrefix(string a, string b)
    {
        int n = 0;
        while (n < a.Length && n < b.Length && a[n] == b[n]) n++;
        return n;
    }

    /// <summary>Debian summary: from the usable records (<see cref="UsableDebian"/>, descriptions of 80..360 characters),
    /// <paramref name="trainRows"/> + <paramref name="testRows"/> (description → summary) pairs chosen by seeded hash, test
    /// and train disjoint; rows in package order.</summary>
    public static (int Train, int Test) WriteDebianSummaries(string debianPath, string outDir, int trainRows = 800, int testRows = 200, ulong seed = 3)
    {
        var pool = UsableDebian(debianPath, 80, 360);
        var chosen = pool.OrderBy(d => TaskSplitter.Hash(d.Package, seed)).ThenBy(d => d.Package, StringComparer.Ordinal).Take(trainRows + testRows).ToArray();
        IEnumerable<IReadOnlyList<(string, string)>> Json(IEnumerable<DebianDescription> ds) =>
            ds.OrderBy(d => d.Package, StringComparer.Ordinal).Select(d => (IReadOnlyList<(string, string)>)[("document", d.Description), ("summary", d.Summary), ("package", d.Package)]);
        SourceReaders.WriteJsonl(Path.Combine(outDir, "debian-summary", "train.jsonl.gz"), Json(chosen.Take(trainRows)));
        SourceReaders.WriteJsonl(Path.Combine(outDir, "debian-summary", "test.jsonl.gz"), Json(chosen.Skip(trainRows)));
        return (Math.Min(trainRows, chosen.Length), Math.Max(0, chosen.Length - trainRows));
    }

    /// <summary>Regenerates all three under <paramref name="outDir"/> from <paramref name="sharedData"/> (../shared/data) and
    /// returns one line per task.</summary>
    public static IReadOnlyList<string> WriteAll(string sharedData, string outDir)
    {
        var s = WriteSentiment(Path.Combine(sharedData, "sentiment"), outDir);
        var debian = Path.Combine(sharedData, "summarization", "debian-descriptions.txt.gz");
        var m = WriteDebianMatch(debian, outDir);
        var d = WriteDebianSummaries(debian, outDir);
        return [$"sentiment: train {s.Train}, test {s.Test}", $"debian-match: train {m.Train}, test {m.Test} ({m.Hard} hard negatives)",
            $"debian-summary: train {d.Train}, test {d.Test}"];
    }
}
