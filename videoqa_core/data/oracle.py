"""Perfect features for a synthetic benchmark folder: what the model does when seeing is solved.

    python -m videoqa_core oracle --synth data/demo/synth --out oracle.h5
    python -m videoqa_core train ... --features oracle.h5

`probe` asks whether a feature store shows the events; this command removes the question.
It writes a feature store in the ordinary layout whose frames state the rendering model's
ground truth outright, so a model trained on it fails only for reasons of its own
(architecture, optimisation, too few examples), never for the features'. Train the same
config on the real store and on this one: the gap is what better features could buy, and
a model that stays at chance on both is limited by itself.

Per sampled frame i (rendered frame ``floor((i + 0.5) * frames / N)``, the evidence rule of
data/README.md), one block per colour c of the palette (6 colours, fixed order):

    appearance [N, 6 * 8]  shape one-hot (4) and home slot one-hot (4) of the object of
                           colour c, set where it is drawn wholly inside the frame (not
                           blinking, entering or leaving past the edge); zeros otherwise
    motion     [N, 6 * 9]  the event kind (7 events, enter, leave) the object of colour c
                           is in at that frame; zeros at rest

Colours are unique within a video, so a block is an object: binding a question's colour
word to its events is a matter of reading the right block. The store holds every video
under its TGIF-style name (``synth00000``) and, where the folder has MSVD files (not a
``--warmup`` set), its MSVD-style name (``vid1``, a link), as the demo store does, so both
datasets of the folder train on it.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import UserError
from .probe import PROBE_EVENTS, bench_from
from .synth import COLOR_NAMES, SHAPES, SLOT_NAMES, object_state, sampled_indices

APPEARANCE_BLOCK = len(SHAPES) + len(SLOT_NAMES)     # 8 per colour
MOTION_BLOCK = len(PROBE_EVENTS)                     # 9 per colour


def oracle_features(scene, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(appearance [N, 6*8], motion [N, 6*9]) float32 for one scene, from its render model."""
    app = np.zeros((num_frames, len(COLOR_NAMES) * APPEARANCE_BLOCK), np.float32)
    mot = np.zeros((num_frames, len(COLOR_NAMES) * MOTION_BLOCK), np.float32)
    for obj in scene.objects:
        c = COLOR_NAMES.index(obj.color)
        a0, m0 = c * APPEARANCE_BLOCK, c * MOTION_BLOCK
        for i, t in enumerate(sampled_indices(scene.frames, num_frames)):
            if object_state(obj, t, scene.size).visible:
                app[i, a0 + SHAPES.index(obj.shape)] = 1.0
                app[i, a0 + len(SHAPES) + SLOT_NAMES.index(obj.slot)] = 1.0
            event = next((e for e in obj.events if e.start <= t < e.stop), None)
            if event is not None:
                mot[i, m0 + PROBE_EVENTS.index(event.kind)] = 1.0
    return app, mot


def write_oracle(synth_dir: str | Path, out: str | Path, *, num_frames: int = 35) -> dict:
    """Write the oracle store for a folder written by ``synth``; refuses to overwrite."""
    from .features import write_store
    out = Path(out)
    if out.exists():
        raise UserError(f"--out {out}: already exists; remove it or choose another path "
                        "(an oracle store is rebuilt in seconds)")
    if num_frames < 1:
        raise UserError(f"--frames {num_frames}: use 1 or more")
    bench = bench_from(Path(synth_dir))
    attrs = {"appearance": "oracle", "motion": "oracle", "appearance_weights": "none", "motion_weights": "none",
             "oracle_layout": json.dumps({"colors": list(COLOR_NAMES), "appearance": list(SHAPES) + list(SLOT_NAMES),
                                          "motion": list(PROBE_EVENTS)}),
             "warnings": "ground truth from the rendering model, not features of the video pixels"}
    items = ((s.name, *oracle_features(s, num_frames)) for s in bench.scenes)
    # the MSVD-style names exist only where the folder has MSVD files (not a --warmup set)
    msvd = any(q.dataset == "msvd-qa" for q in bench.questions)
    write_store(out, items, attrs=attrs, dtype="float16",
                aliases={f"vid{s.index + 1}": s.name for s in bench.scenes} if msvd else {})
    return {"out": str(out), "videos": len(bench.scenes), "num_frames": num_frames,
            "appearance_dim": len(COLOR_NAMES) * APPEARANCE_BLOCK, "motion_dim": len(COLOR_NAMES) * MOTION_BLOCK}


def configure(p) -> None:
    p.add_argument("--synth", required=True, help="a folder written by `synth` (holds manifest.json)")
    p.add_argument("--out", required=True, help="the feature store to write (.h5); must not exist")
    p.add_argument("--frames", type=int, default=35, help="sampled frames per video (default 35, as extract)")


def main(args) -> int:
    res = write_oracle(args.synth, args.out, num_frames=args.frames)
    print(f"oracle features for {res['videos']} videos ({res['num_frames']} frames; appearance "
          f"{res['appearance_dim']}, motion {res['motion_dim']}) -> {res['out']}")
    return 0
