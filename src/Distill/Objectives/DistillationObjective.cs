using BitDistill.Autograd;
using BitDistill.Models;
using BitDistill.Tensors;

namespace BitDistill.Distill.Objectives;

/// <summary>Stage 3 of BitDistill: CE on the answer targets + λ·LD + γ·AD. LD = τ²·KL(softmax(z_T/τ) ‖ softmax(z_S/τ)),
/// batchmean over the tokens the CE covers (or every non-padding token), fused with both LM heads when they are plain
/// linear maps (<see cref="F.LinearKlDistillation"/>: no [B·T, V] logits), else on materialised logits. AD =
/// <see cref="AttentionRelationLoss"/> between the student's and the teacher's Q/K/V at one layer each, over the
/// non-padding tokens. The teacher runs without a graph. Terms: "ce", and "ld" / "ad" when their weight is not 0. For
/// score-head models (teacher and student both *ForSequenceClassification) the heads are the score heads and the one target
/// of a row sits at its last prompt token, so CE is over the classes there and LD the τ²·KL of the two score heads' logits.</summary>
public sealed class DistillationObjective : ITrainingObjective
{
    private readonly CausalLanguageModel _teacher;

    /// <summary>An objective distilling <paramref name="teacher"/> (which it never trains) with <paramref name="options"/>.</summary>
    public DistillationObjective(CausalLanguageModel teacher, DistillationOptions options)
    {
        options.Validate();
        _teacher = teacher;
        Options = options;
        int layers = teacher.Config.NumHiddenLayers;
        TeacherLayer = options.TeacherLayer ?? DistillationOptions.DefaultLayer(layers);
        if (TeacherLayer >= layers) throw new ArgumentException($"TeacherLayer {TeacherLayer} is outside the teacher's {layers} layers");
    }

    /// <summary>The settings.</summary>
    public DistillationOptions Options { get; }

    /// <summary>The teacher's layer whose relations are distilled.</summary>
    public int TeacherLayer { get; }

    /// <inheritdoc/>
    public string Name => "bitdistill";

    /// <summary>The student's layer whose relations are distilled, for a student of this depth.</summary>
    public int StudentLayer(CausalLanguageModel student)
    {
        int layers = student.Config.NumHiddenLayers;
        int layer = Options.StudentLayer ?? DistillationOptions.DefaultLayer(layers);
        if (layer >= layers) throw new ArgumentException($"StudentLayer {layer} is outside the student's {layers} layers");
        return layer;
    }

    /// <inheritdoc/>
    public ObjectiveResult Compute(CausalLanguageModel model, TrainingBatch batch)
    {
        if (model.Config.VocabSize != _teacher.Config.VocabSize)
            throw new ArgumentException($"teacher vocabulary {_teacher.Config.VocabSize} ≠ student vocabulary {model.Config.VocabSize}: distillation needs one tokenizer");
        bool ld = Options.LogitsWeight > 0, ad = Options.AttentionWeight > 0;
        int studentLayer = StudentLayer(model);
        Variable? teacherHidden = null; ForwardCapture? teacherCapture = null;
        if (ld || ad)
            using (GradMode.NoGrad())
            {
                teacherCapture = ad ? new ForwardCapture(false, TeacherLayer) : null;
                teacherHidden = _teacher.Hidden(batch.InputIds, batch.AttentionMask, teacherCapture);
            }
        var capture = ad ? new ForwardCapture(false, studentLayer) : null;
        var h = model.Hidden(batch.InputIds, batch.AttentionMask, capture);
        var targets = batch.Targets.To(DType.Int64).Reshape(-1);
        var hFlat = h.Reshape(-1, h.Size(-1));
        Variable? logits = model.HeadIsPlainLinear ? null : model.Head(hFlat);
        Variable loss;
        var terms = new Dictionary<string, double>();
        if (ld && logits is null && _teacher.HeadIsPlainLinear && !Options.LogitsOverAllTokens)
        {
            // LD over the tokens the CE covers: both losses from one pass over the student's logits
            var th = teacherHidden!.Value.Reshape(-1, teacherHidden.Size(-1));
            var fused = F.LinearCrossEntropyWithDistillation(hFlat, model.OutputWeight, targets, th, _teacher.OutputWeight.Value,
                (float)Options.Temperature, (float)Options.LogitsWeight, CausalLmObjective.IgnoreIndex);
            terms["ce"] = fused.CrossEntropy;
            terms["ld"] = fused.LogitsDistillation;
            loss = fused.Total;
        }
        else loss = CrossEntropyAndLogitsDistillation(model, batch, hFlat, logits, targets, teacherHidden, ld, terms);
        if (ad)
        {
            var adLoss = AttentionRelationLoss.Compute(capture!.Qkv[studentLayer], teacherCapture!.Qkv[TeacherLayer], batch.AttentionMask,
                Options.RelationHeads, Options.Relation);
            terms["ad"] = adLoss.Value.Item();
            loss = loss + adLoss * (float)Options.AttentionWeight;
        }
        return new ObjectiveResult(loss, terms);
    }

    // CE and (when on) λ·LD as separate ops: LD over all non-padding tokens, or a head that is not a plain linear map.
    private Variable CrossEntropyAndLogitsDistillation(CausalLanguageModel model, TrainingBatch batch, Variable hFlat, Variable? logits,
        Tensor targets, Variable? teacherHidden, bool ld, Dictionary<string, double> terms)
    {
        var ce = logits is null ? F.LinearCrossEntropy(hFlat, model.OutputWeight, targets, CausalLmObjective.IgnoreIndex)
            : F.CrossEntropy(logits, targets, CausalLmObjective.IgnoreIndex);
        terms["ce"] = ce.Value.Item();
        var loss = ce;
        if (ld)
        {
            var rows = LogitsRows(batch);
            var th = teacherHidden!.Value.Reshape(-1, teacherHidden.Size(-1));
            float tau = (float)Options.Temperature;
            Variable ldLoss;
            if (logits is null && _teacher.HeadIsPlainLinear)
                ldLoss = F.LinearKlDistillation(hFlat, model.OutputWeight, th, _teacher.OutputWeight.Value, tau, rows);
            else
            {
                Tensor teacherLogits;
                using (GradMode.NoGrad()) teacherLogits = _teacher.Head(new Variable(th)).Value;
                ldLoss = F.KlDivWithTemperature(logits ?? model.Head(hFlat), new Variable(teacherLogits), tau, rows);
            }
            terms["ld"] = ldLoss.Value.Item();
            loss = loss + ldLoss * (float)Options.LogitsWeight;
        }
        return loss;
    }

    /// <summary>The rows [B·T] (1 = kept) LD averages over: the tokens with a target, or every non-padding token.</summary>
    public Tensor LogitsRows(TrainingBatch batch)
    {
        int n = batch.InputIds.Count;
        var keep = new float[n];
        if (Options.LogitsOverAllTokens)
        {
            var m = batch.AttentionMask?.To(DType.Float32).Contiguous().ToArray<float>();
            for (int i = 0; i < n; i++) keep[i] = m is null || m[i] != 0 ? 1 : 0;
        }
        else
        {
            var t = batch.Targets.To(DType.Int64).Contiguous().ToArray<long>();
            for (int i = 0; i < n; i++) keep[i] = t[i] == CausalLmObjective.IgnoreIndex ? 0 : 1;
        }
        return Tensor.FromArray(keep, [n], batch.InputIds.Device);
    }
}
