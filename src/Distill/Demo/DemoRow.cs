using System.Globalization;
using System.Text.Json;
using BitDistill.Distill.Data;
using BitDistill.Distill.Evaluation;
using BitDistill.Distill.Recipes;
using BitDistill.Distill.Reports;
using BitDistill.Distill.Stages;
using BitDistill.Distill.Training;
using BitDistill.Models;
using BitDistill.Models.BitNet;
using BitDistill.Models.Qwen;
using BitDistill.Models.Tokenization;
using BitDistill.Tensors;

namespace BitDistill.Distill.Demo;

/// <summary>One row of the demo's table.</summary>
public sealed record DemoRow(string Model, long Parameters, double Perplexity, double TokensPerSecond, double WeightMegabytes);
