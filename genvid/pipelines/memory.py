"""Memory switches both genvid pipelines share, under diffusers' names.

- ``pipe.vae``: the video tokenizer (diffusers pipelines call their autoencoder ``vae``).
- ``enable_vae_tiling(tile_size, overlap)`` / ``disable_vae_tiling()``: decode (and encode) large
  frames as overlapping tiles blended across the overlap (pixels; see tokenizer.tiling).
- ``enable_vae_slicing()`` / ``disable_vae_slicing()``: decode a batch one video at a time.
- ``quantize("int8")``: int8 weight-only quantization of the transformer with torchao (CPU and
  GPU); ``"int8_dynamic"`` quantizes activations too (int8 matmuls). Offload is diffusers' own
  (``enable_model_cpu_offload`` / ``enable_sequential_cpu_offload``, through
  ``model_cpu_offload_seq``).
"""

from __future__ import annotations

from genvid.errors import GenvidError

QUANTIZATIONS = ("int8", "int8_dynamic")


def quantize_model(model, mode: str = "int8"):
    """Quantize ``model``'s linear layers in place with torchao; returns the model."""
    if mode not in QUANTIZATIONS:
        raise GenvidError(f"quantization must be one of {', '.join(QUANTIZATIONS)}, got {mode!r}")
    if getattr(model, "peft_config", None):
        raise GenvidError("quantize: fuse and unload LoRA adapters first (pipe.fuse_lora(); pipe.unload_lora_weights())")
    try:
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, Int8WeightOnlyConfig, quantize_
    except ImportError:
        raise GenvidError("quantize needs torchao: pip install 'genvid[quantize]'") from None

    config = Int8WeightOnlyConfig() if mode == "int8" else Int8DynamicActivationInt8WeightConfig()
    quantize_(model, config)
    model.quantization = mode
    return model


def weight_bytes(model) -> int:
    """Bytes the model's parameters and buffers hold, quantized tensors by their inner tensors."""

    def size(tensor) -> int:
        if hasattr(tensor, "__tensor_flatten__"):  # a tensor subclass (torchao): its inner tensors
            names, _ = tensor.__tensor_flatten__()
            return sum(size(getattr(tensor, name)) for name in names)
        return tensor.numel() * tensor.element_size()

    return sum(size(tensor) for tensor in [*model.parameters(), *model.buffers()])


class MemoryMixin:
    """Tiling, slicing and quantization switches; the tokenizer component is ``video_tokenizer``."""

    @property
    def vae(self):
        return self.video_tokenizer

    def enable_vae_tiling(self, tile_size: int = 256, overlap: int = 64) -> None:
        try:
            self.video_tokenizer.enable_tiling(tile_size, overlap)
        except ValueError as error:
            raise GenvidError(str(error)) from None

    def disable_vae_tiling(self) -> None:
        self.video_tokenizer.disable_tiling()

    def enable_vae_slicing(self) -> None:
        self.video_tokenizer.enable_slicing()

    def disable_vae_slicing(self) -> None:
        self.video_tokenizer.disable_slicing()

    def quantize(self, mode: str = "int8"):
        """Quantize the transformer (``"int8"`` weight-only or ``"int8_dynamic"``); returns the pipeline."""
        quantize_model(self.transformer, mode)
        return self
