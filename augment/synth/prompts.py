"""Prompts and seeds: per-emotion templates over a demographic grid, or a user prompt file.

Image `i` of class `c` always gets the same prompt and the same seed
(`base_seed + seed_offset(c, i)`), so a run is reproducible image by image and a re-run with the
same seed range recognises the images it already made.
"""

from __future__ import annotations

import itertools
import json
import random
import tomllib
from dataclasses import dataclass
from pathlib import Path

from curate.core.errors import InputError
from curate.core.taxonomy import CLASS_INDEX, CLASSES

# Seeds of class c live in [c * SEED_STRIDE, (c + 1) * SEED_STRIDE): stable, readable, disjoint.
SEED_STRIDE = 1_000_000

EXPRESSIONS: dict[str, tuple[str, ...]] = {
    "angry": ("an angry facial expression, furrowed brows, glaring eyes, tight lips",
              "a furious face, frowning, lowered eyebrows, clenched jaw"),
    "disgust": ("a disgusted facial expression, wrinkled nose, raised upper lip",
                "a face showing disgust, nose scrunched, upper lip curled, squinting"),
    "fear": ("a fearful facial expression, wide open eyes, raised eyebrows, mouth open",
             "a terrified face, eyes wide with fear, eyebrows raised and drawn together"),
    "happy": ("a happy facial expression, broad smile, cheeks raised",
              "a joyful face, laughing, smiling with teeth"),
    "sad": ("a sad facial expression, downturned mouth, inner eyebrows raised",
            "a sorrowful face, teary eyes, frowning"),
    "surprise": ("a surprised facial expression, raised eyebrows, wide eyes, open mouth",
                 "an astonished face, jaw dropped, eyebrows high"),
    "neutral": ("a neutral facial expression, relaxed face, closed mouth",
                "an expressionless calm face, looking at the camera"),
}
AGES = ("young adult", "middle-aged", "elderly", "teenage", "adult")
GENDERS = ("woman", "man")
ETHNICITIES = ("East Asian", "Black", "white", "South Asian", "Hispanic", "Middle Eastern")
LIGHTING = ("soft studio lighting", "natural daylight", "dim indoor lighting", "harsh side light")
POSES = ("frontal view", "slightly turned head", "three-quarter view")
TEMPLATE = ("close-up portrait photo of a {age} {ethnicity} {gender}, {expression}, {pose}, "
            "{lighting}, face centered, plain background, sharp focus")
NEGATIVE = ("cartoon, drawing, painting, anime, 3d render, deformed face, extra eyes, blurry, "
            "cropped face, multiple people, text, watermark, sunglasses, hands on face")


@dataclass(frozen=True)
class Prompt:
    text: str
    negative: str


@dataclass(frozen=True)
class PromptSet:
    """Prompts per class; image i of a class takes entry i modulo the list length."""

    prompts: dict[str, tuple[Prompt, ...]]
    source: str  # "templates" or the prompt file's path

    def for_image(self, cls: str, i: int) -> Prompt:
        options = self.prompts.get(cls)
        if not options:
            raise InputError(f"no prompts for class {cls!r} in {self.source}; add some")
        return options[i % len(options)]


def _grid(cls: str) -> tuple[Prompt, ...]:
    """The full demographic grid for one class, in a fixed shuffled order (diverse prefixes)."""
    combos = list(itertools.product(AGES, GENDERS, ETHNICITIES, LIGHTING, POSES,
                                    EXPRESSIONS[cls]))
    random.Random(CLASS_INDEX[cls]).shuffle(combos)
    return tuple(Prompt(TEMPLATE.format(age=a, gender=g, ethnicity=e, lighting=li, pose=p,
                                        expression=x), NEGATIVE)
                 for a, g, e, li, p, x in combos)


def template_prompts() -> PromptSet:
    return PromptSet({c: _grid(c) for c in CLASSES}, "templates")


def load_prompt_file(path: Path) -> PromptSet:
    """A TOML or JSON file: `class = ["prompt", ...]`, or `class = {prompts = [...],
    negative = "..."}`; a top-level `negative` string is the default negative prompt."""
    try:
        text = path.read_text()
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except FileNotFoundError:
        raise InputError(f"prompt file {path} not found") from None
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"prompt file {path} is not valid TOML/JSON ({e})") from None
    if not isinstance(data, dict):
        raise InputError(f"prompt file {path}: expected a table of class -> prompts")
    default_neg = data.pop("negative", NEGATIVE)
    unknown = sorted(k for k in data if k not in CLASS_INDEX)
    if unknown:
        raise InputError(f"prompt file {path}: unknown class(es) {', '.join(unknown)} "
                         f"(classes: {', '.join(CLASSES)})")
    out: dict[str, tuple[Prompt, ...]] = {}
    for cls, entry in data.items():
        neg = default_neg
        if isinstance(entry, dict):
            neg = entry.get("negative", default_neg)
            entry = entry.get("prompts")
        if isinstance(entry, str):
            entry = [entry]
        if not entry or not all(isinstance(p, str) and p.strip() for p in entry):
            raise InputError(f"prompt file {path}: class {cls!r} needs a non-empty list of "
                             "prompt strings")
        out[cls] = tuple(Prompt(p.strip(), str(neg)) for p in entry)
    return PromptSet(out, str(path))


def seed_offset(cls: str, i: int) -> int:
    """The stable offset of image i of class `cls` (independent of the other classes asked)."""
    if not 0 <= i < SEED_STRIDE:
        raise InputError(f"image index {i} outside 0..{SEED_STRIDE - 1}")
    return CLASS_INDEX[cls] * SEED_STRIDE + i


def image_seed(base_seed: int, cls: str, i: int) -> int:
    return base_seed + seed_offset(cls, i)
