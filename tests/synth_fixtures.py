"""Tiny randomly-initialised Stable Diffusion pipelines of the real architectures, saved to disk.

Modelled on diffusers' own `get_dummy_components`: a tiny UNet (block channels (32, 64), sample
size 32), a tiny VAE, a tiny CLIP text model and a CLIP tokenizer built from vocab/merges files
written here (no hub). Saved with `save_pretrained` so tests load them through the real code.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

TOKEN_BYTES = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
               *range(ord("®"), ord("ÿ") + 1)]


def _byte_chars() -> list[str]:
    """GPT-2/CLIP byte-to-unicode table (the 256 base symbols of the BPE vocabulary)."""
    bs = list(TOKEN_BYTES)
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def write_tokenizer(directory: Path) -> Path:
    """A CLIP BPE tokenizer: every byte symbol, its `</w>` form, a few merges, the specials."""
    from transformers import CLIPTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    symbols = _byte_chars()
    vocab: dict[str, int] = {}
    for s in symbols + [s + "</w>" for s in symbols]:
        vocab.setdefault(s, len(vocab))
    merges = ["f a", "c e</w>", "fa ce</w>"]
    for m in merges:
        vocab.setdefault(m.replace(" ", ""), len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (directory / "vocab.json").write_text(json.dumps(vocab))
    (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    tok = CLIPTokenizer(str(directory / "vocab.json"), str(directory / "merges.txt"),
                        model_max_length=77)
    return tok


def _text_config(projection: bool = False):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(bos_token_id=0, eos_token_id=2, hidden_size=32, intermediate_size=37,
                          layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=2,
                          pad_token_id=1, vocab_size=1000, projection_dim=32, hidden_act="gelu")


def _vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(block_out_channels=(32, 64), in_channels=3, out_channels=3,
                         down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                         up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
                         latent_channels=4, norm_num_groups=32, sample_size=64)


def sd15_components(tmp: Path, seed: int = 0) -> dict:
    from diffusers import DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=4,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
        norm_num_groups=32)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    return {"unet": unet, "scheduler": scheduler, "vae": _vae(),
            "text_encoder": CLIPTextModel(_text_config()),
            "tokenizer": write_tokenizer(tmp / "tok"), "safety_checker": None,
            "feature_extractor": None}


def make_sd15(path: Path, seed: int = 0) -> Path:
    """An SD-1.5-style pipeline folder (no safety checker) at `path`."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(**sd15_components(path.parent, seed),
                                   requires_safety_checker=False)
    pipe.save_pretrained(path, safe_serialization=True)
    return path


def make_sdxl(path: Path, seed: int = 0) -> Path:
    """An SDXL-style pipeline folder: two text encoders (the second with projection)."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=4,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
        use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1), projection_class_embeddings_input_dim=80,
        cross_attention_dim=64, norm_num_groups=32)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012,
                                       beta_schedule="scaled_linear", timestep_spacing="leading",
                                       steps_offset=1)
    tok = write_tokenizer(path.parent / "tok")
    pipe = StableDiffusionXLPipeline(
        vae=_vae(), text_encoder=CLIPTextModel(_text_config()), tokenizer=tok,
        text_encoder_2=CLIPTextModelWithProjection(_text_config()), tokenizer_2=tok,
        unet=unet, scheduler=scheduler)
    pipe.save_pretrained(path, safe_serialization=True)
    return path


# --- a single-file (original LDM layout) checkpoint, written with the inverse of diffusers'
# own single-file conversion (the logic of diffusers' scripts/convert_diffusers_to_original_
# stable_diffusion.py, generalised to any number of blocks and layers per block).

def _unet_prefixes(cfg: dict) -> list[tuple[str, str]]:
    """(diffusers prefix, LDM prefix) pairs for the blocks of a UNet2DConditionModel config."""
    n, lpb = len(cfg["block_out_channels"]), cfg["layers_per_block"]
    out = [("mid_block.attentions.0.", "middle_block.1."),
           ("mid_block.resnets.0.", "middle_block.0."),
           ("mid_block.resnets.1.", "middle_block.2.")]
    for i in range(n):
        for j in range(lpb):
            k = (lpb + 1) * i + j + 1
            out.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{k}.0."))
            out.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{k}.1."))
        if i < n - 1:
            out.append((f"down_blocks.{i}.downsamplers.0.conv.",
                         f"input_blocks.{(lpb + 1) * (i + 1)}.0.op."))
        for j in range(lpb + 1):
            k = (lpb + 1) * i + j
            out.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{k}.0."))
            out.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{k}.1."))
        if i < n - 1:
            slot = 2 if "CrossAttn" in cfg["up_block_types"][i] else 1
            out.append((f"up_blocks.{i}.upsamplers.0.",
                        f"output_blocks.{(lpb + 1) * i + lpb}.{slot}."))
    return out


_UNET_FIXED = {"time_embedding.linear_1.": "time_embed.0.",
               "time_embedding.linear_2.": "time_embed.2.", "conv_in.": "input_blocks.0.0.",
               "conv_norm_out.": "out.0.", "conv_out.": "out.2."}
_RESNET = [("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"),
           ("conv2", "out_layers.3"), ("time_emb_proj", "emb_layers.1"),
           ("conv_shortcut", "skip_connection")]


def _unet_to_ldm(sd: dict, cfg: dict) -> dict:
    out = {}
    prefixes = sorted(_unet_prefixes(cfg), key=lambda p: -len(p[0]))
    for k, v in sd.items():
        new = k
        for hf, ldm in _UNET_FIXED.items():
            if k.startswith(hf):
                new = ldm + k[len(hf):]
        for hf, ldm in prefixes:
            if k.startswith(hf):
                rest = k[len(hf):]
                if ".resnets." in hf:
                    for a, b in _RESNET:
                        rest = rest.replace(a, b)
                new = ldm + rest
                break
        out["model.diffusion_model." + new] = v
    return out


def _vae_to_ldm(sd: dict, n_blocks: int) -> dict:
    pairs = [("mid_block.attentions.0.", "mid.attn_1."),
             ("mid_block.resnets.0.", "mid.block_1."), ("mid_block.resnets.1.", "mid.block_2.")]
    for i in range(n_blocks):
        for j in range(3):
            pairs.append((f"encoder.down_blocks.{i}.resnets.{j}.", f"encoder.down.{i}.block.{j}."))
            pairs.append((f"decoder.up_blocks.{i}.resnets.{j}.",
                          f"decoder.up.{n_blocks - 1 - i}.block.{j}."))
        pairs.append((f"encoder.down_blocks.{i}.downsamplers.0.", f"encoder.down.{i}.downsample."))
        pairs.append((f"decoder.up_blocks.{i}.upsamplers.0.",
                      f"decoder.up.{n_blocks - 1 - i}.upsample."))
    attn = [("group_norm.", "norm."), ("to_q.", "q."), ("to_k.", "k."), ("to_v.", "v."),
            ("to_out.0.", "proj_out.")]
    out = {}
    for k, v in sd.items():
        new = k.replace("conv_shortcut", "nin_shortcut").replace("conv_norm_out", "norm_out")
        for hf, ldm in pairs:
            new = new.replace(hf, ldm)
        if "mid.attn_1." in new:
            for hf, ldm in attn:
                new = new.replace(hf, ldm)
            if v.ndim == 2 and new.endswith(("q.weight", "k.weight", "v.weight",
                                             "proj_out.weight")):
                v = v[:, :, None, None]
        out["first_stage_model." + new] = v
    return out


def make_single_file(folder: Path, out: Path) -> Path:
    """Write an SD-1.5-style pipeline folder's weights as one original-layout safetensors file."""
    from safetensors.torch import load_file, save_file

    ucfg = json.loads((folder / "unet" / "config.json").read_text())
    vcfg = json.loads((folder / "vae" / "config.json").read_text())
    sd = _unet_to_ldm(load_file(folder / "unet" / "diffusion_pytorch_model.safetensors"), ucfg)
    sd |= _vae_to_ldm(load_file(folder / "vae" / "diffusion_pytorch_model.safetensors"),
                      len(vcfg["block_out_channels"]))
    for k, v in load_file(folder / "text_encoder" / "model.safetensors").items():
        sd["cond_stage_model.transformer.text_model." + k.removeprefix("text_model.")] = v
    save_file({k: v.contiguous() for k, v in sd.items()}, out)
    return out
