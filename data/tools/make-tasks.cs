#:project ../../src/Distill/BitDistill.Distill.csproj
// Regenerates data/tasks/ from ../shared/data (see data/README.md):
//   dotnet run data/tools/make-tasks.cs -- ../shared/data data/tasks
using BitDistill.Distill.Data;

if (args.Length != 2)
{
    Console.Error.WriteLine("usage: dotnet run data/tools/make-tasks.cs -- SHARED_DATA_DIR OUTPUT_DIR");
    return 2;
}
foreach (var line in ShippedTasks.WriteAll(args[0], args[1])) Console.WriteLine(line);
return 0;
