namespace BitDistill.Models.BitNet;

/// <summary>Where a ternary layer's scales come from: recomputed absmean (the paper, and every layer during training), or
/// fixed by a post-training calibration (config.json "bitnet.calibration": "gptq" or "awq").</summary>
public enum CalibrationKind
{
    /// <summary>Absmean scales recomputed from the latent weights.</summary>
    None,
    /// <summary>GPTQ-style error feedback; fixed per-row scales (buffer weight_scale).</summary>
    Gptq,
    /// <summary>AWQ-style input scaling; fixed per-row scales (weight_scale) and input scales (input_scale).</summary>
    Awq,
}
