namespace BitDistill.Cli;

/// <summary>Bad input from the user (an option, a path, a value): printed as one line, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);
