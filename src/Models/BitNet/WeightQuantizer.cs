namespace BitDistill.Models.BitNet;

/// <summary>The ternary weight quantiser BitLinear trains with (config.json "bitnet.weight_quant").</summary>
public enum WeightQuantizer
{
    /// <summary>Absmean codes and scales recomputed from the latent weights at every step (the paper); the scale granularity
    /// is <see cref="BitNetConfig.WeightScale"/>.</summary>
    Absmean,
    /// <summary>GPTQ-style in training: per-row scales and an error-feedback correction solved by GPTQ on a running Gram
    /// matrix of the layer's input every <see cref="BitNetConfig.RequantEvery"/> steps; codes re-rounded every step.</summary>
    Gptq,
    /// <summary>AWQ-style in training: per-input-channel scales from running mean |x| (α by grid search every
    /// <see cref="BitNetConfig.RequantEvery"/> steps); W·diag(s) absmean-ternarised (per row) every step, input x / s.</summary>
    Awq,
}
