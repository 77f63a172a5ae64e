"""Minority-class synthesis with diffusers: generate, render, gate, admit with provenance."""

from augment.synth.stage import SynthConfig, SynthReport, synthesize

__all__ = ["SynthConfig", "SynthReport", "synthesize"]
