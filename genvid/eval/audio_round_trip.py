"""What an audio codec keeps of the synthetic set's soundtracks: encode, decode at 1..all levels,
and read colour, shape and motion back with the audio analyzer (genvid.eval.audio_analyzer).

The analyzer's reading of the true tone is the ceiling; a generator that writes the codec's codes
(v2a) or reads them (a2v, the DiT's sound) can tell no more than the round trip keeps.

    python -m genvid.eval.audio_round_trip --codec genvid/demo/audio_codec --json out.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from genvid.data.synthetic import HELDOUT_COMBINATIONS, render_audio
from genvid.eval.audio_analyzer import analyze_audio, attribute_accuracy


def signal_to_noise_db(reconstruction: torch.Tensor, waveform: torch.Tensor) -> float:
    error = (reconstruction - waveform).square().mean().clamp_min(1e-12)
    return float(10 * torch.log10(waveform.square().mean() / error))


def harmonic_ratios(waveforms, labels, sample_rate: int) -> dict[str, float]:
    """``{"harmonic_<shape>": mean third-harmonic ratio}`` the analyzer reads shape from (true
    tones: circle 0, triangle about 0.11, square about 0.25-0.29): a codec that flattens the
    harmonic balance shows here before the shape accuracy moves."""
    ratios: dict[str, list[float]] = {}
    for waveform, (_, shape, _) in zip(waveforms, labels):
        ratios.setdefault(shape, []).append(analyze_audio(waveform, sample_rate).harmonic_ratio)
    return {f"harmonic_{shape}": sum(values) / len(values) for shape, values in sorted(ratios.items())}


def codec_round_trip(codec, combinations=HELDOUT_COMBINATIONS, samples_per_combination: int = 3,
                     levels: list[int] | None = None, num_frames: int = 17, fps: float = 8.0,
                     unquantized: bool = False) -> dict:
    """Per number of levels: the analyzer's accuracies on the decoded tones, their mean SNR (dB)
    and third-harmonic ratio per shape; ``"ground_truth"``: the analyzer on the true tones;
    ``unquantized``: also the encoder's latents decoded as they are (``"latents"``: what the
    autoencoder keeps, the quantizer aside). Seeds 1000 + index (the recipe's training tones use
    the dataset's own seeds)."""
    sample_rate = codec.config.sample_rate
    labels = [combination for combination in combinations for _ in range(samples_per_combination)]
    waveforms = torch.stack([
        render_audio(*label, num_frames=num_frames, fps=fps, sample_rate=sample_rate, seed=1000 + index)
        for index, label in enumerate(labels)
    ])
    report = {"clips": len(labels), "ground_truth": {**attribute_accuracy(list(waveforms), labels, sample_rate),
                                                     **harmonic_ratios(list(waveforms), labels, sample_rate)}}
    levels = levels or list(range(1, codec.num_codebooks + 1))
    inputs = waveforms.to(device=codec.device, dtype=codec.dtype)
    decoders = {f"levels_{count}": (lambda count=count: codec.decode(codec.encode(inputs, num_codebooks=count)))
                for count in levels}
    if unquantized:
        decoders["latents"] = lambda: codec.decoder(codec.encode_latents(inputs))[:, 0]
    with torch.no_grad():
        for name, decode in decoders.items():
            reconstruction = decode().float()[:, : waveforms.shape[-1]].cpu()
            reading = attribute_accuracy(list(reconstruction), labels, sample_rate)
            snr = [signal_to_noise_db(decoded, true) for decoded, true in zip(reconstruction, waveforms)]
            report[name] = {**reading, "snr_db": sum(snr) / len(snr), **harmonic_ratios(list(reconstruction), labels, sample_rate)}
    return report


def main(argv: list[str] | None = None) -> int:
    from tokenizer import AudioCodec

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--codec", required=True, help="a saved AudioCodec folder (or a pipeline's audio_codec/)")
    parser.add_argument("--samples-per-combination", type=int, default=3)
    parser.add_argument("--levels", type=int, nargs="+", default=None, help="level counts to decode at (default: all)")
    parser.add_argument("--unquantized", action="store_true", help="also decode the encoder's latents unquantized")
    parser.add_argument("--json", default=None, help="also write the report here")
    args = parser.parse_args(argv)
    codec = AudioCodec.from_pretrained(args.codec).eval()
    report = {"codec": args.codec, **codec_round_trip(codec, samples_per_combination=args.samples_per_combination,
                                                      levels=args.levels, unquantized=args.unquantized)}
    text = json.dumps(report)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
