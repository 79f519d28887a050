"""The byte LM (model.py) as a Hugging Face transformers GPT-2, weight for
weight, so that transformers' generate() (KV cache, greedy search) runs it
with any attention implementation, sieve's included.

ByteLM is GPT-2's architecture without biases: pre-LN blocks, learned
positions, exact GELU, tied embeddings, scores scaled by 1/sqrt(D). GPT-2's
Conv1D layers hold their weights as [in, out] (x @ W + b), nn.Linear as
[out, in] (x @ W.T), so each projection is transposed and its bias is zero.
The fused q/k/v projection splits the same way in both: q, k, v, each
head-major. A model with head gates (a HeadBudget) is refused: GPT-2 has no
place for them (prune heads with empty heads in the mask instead).
"""
import torch


def gpt2_config(cfg):
    """The transformers GPT2Config of a model.ModelConfig."""
    from transformers import GPT2Config

    return GPT2Config(vocab_size=cfg.vocab, n_positions=cfg.context, n_embd=cfg.d_model,
                      n_layer=cfg.layers, n_head=cfg.heads, n_inner=4 * cfg.d_model,
                      activation_function="gelu", resid_pdrop=0.0, embd_pdrop=0.0,
                      attn_pdrop=0.0, layer_norm_epsilon=1e-5, scale_attn_weights=True,
                      tie_word_embeddings=True, bos_token_id=None, eos_token_id=None,
                      pad_token_id=None)


def to_gpt2(model, attn_implementation="sdpa", dtype=torch.float32):
    """A GPT2LMHeadModel (eval mode) computing what `model` (a ByteLM)
    computes, with `attn_implementation` and weights in `dtype`."""
    from transformers import GPT2LMHeadModel

    if model.head_budget is not None:
        raise ValueError("a byte LM with head gates has no GPT-2 form: give the pruned heads "
                         "empty masks instead")
    cfg = model.cfg
    gpt2 = GPT2LMHeadModel(gpt2_config(cfg))
    state = {"transformer.wte.weight": model.embed.weight,
             "transformer.wpe.weight": model.pos.weight,
             "transformer.ln_f.weight": model.norm.weight,
             "transformer.ln_f.bias": model.norm.bias,
             "lm_head.weight": model.embed.weight}
    for i, block in enumerate(model.blocks):
        prefix = f"transformer.h.{i}."
        linear = {"attn.c_attn": block.qkv, "attn.c_proj": block.proj,
                  "mlp.c_fc": block.mlp[0], "mlp.c_proj": block.mlp[2]}
        for name, layer in linear.items():
            state[prefix + name + ".weight"] = layer.weight.t()
            state[prefix + name + ".bias"] = torch.zeros(layer.weight.shape[0])
        for name, norm in (("ln_1", block.norm1), ("ln_2", block.norm2)):
            state[prefix + name + ".weight"] = norm.weight
            state[prefix + name + ".bias"] = norm.bias
    state = {k: v.detach().float().cpu().contiguous() for k, v in state.items()}
    missing, unexpected = gpt2.load_state_dict(state, strict=False)
    # Only GPT-2's non-persistent attention buffers (if any) may be left.
    left = [k for k in missing if not k.endswith((".attn.bias", ".attn.masked_bias"))]
    if left or unexpected:
        raise RuntimeError(f"GPT-2 export: missing {left}, unexpected {unexpected}")
    gpt2.set_attn_implementation(attn_implementation)
    return gpt2.to(dtype).eval()
