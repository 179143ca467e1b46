namespace BitDistill.Distill.Evaluation;

/// <summary>The few Python string behaviours the reference metric packages rely on, so tokens match theirs exactly.</summary>
internal static class PythonText
{
    /// <summary>Python's <c>str.lower()</c>: .NET's invariant lowercase plus the one unconditional full mapping that differs,
    /// U+0130 (İ) → "i̇" (i followed by U+0307 COMBINING DOT ABOVE).</summary>
    public static string Lower(string s)
    {
        var lower = s.ToLowerInvariant();
        return s.Contains('\u0130', StringComparison.Ordinal) ? ReplaceDottedCapitalI(s, lower) : lower;
    }

    /// <summary>Python's <c>str.isspace()</c> for one UTF-16 unit: .NET's white space plus U+001C–U+001F.</summary>
    public static bool IsSpace(char ch) => char.IsWhiteSpace(ch) || ch is >= '\u001c' and <= '\u001f';

    private static string ReplaceDottedCapitalI(string original, string lower)
    {
        // invariant lowercasing maps one UTF-16 unit to one, so positions line up
        var sb = new System.Text.StringBuilder(lower.Length + 4);
        for (int i = 0; i < lower.Length; i++)
        {
            if (original[i] == '\u0130') sb.Append("i\u0307");
            else sb.Append(lower[i]);
        }
        return sb.ToString();
    }
}
