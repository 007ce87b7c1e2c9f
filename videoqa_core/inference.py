"""Load a checkpoint, answer a question, return the trace: the ONLY door the dashboard uses.

    from videoqa_core.inference import Predictor
    p = Predictor.load("checkpoints/demo/count/best.pt")
    ex = p.explain(appearance, motion, "how many times does the red circle jump ?")
    ex.prediction, ex.top, ex.trace.visual_read      # (rows, N, S_v)

Inference is bound by streaming weights through the per-step matmuls (TECH-NOTES); the
predictor therefore folds weight normalisation into plain weights once at load time.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from .checkpoint import build_model, load_checkpoint
from .data.dataset import encode_rows
from .data.records import QARecord
from .data.vocab import Vocab, tokenize
from .errors import UserError
from .model.layers import fold_weight_norm
from .model.trace import Trace
from .tasks import count_prediction, kind_of

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Explanation:
    """One answered question.

    rows:       token lists, one per model row (1, or C for multiple choice), as the axis
                labels of the textual maps (padding excluded).
    scores:     count: [raw]; multiple choice: (C,) scores; open-ended: (A,) probabilities.
    top:        [(answer, probability or score)] best first (at most 5).
    trace:      numpy Trace, leading axis = rows.
    """
    kind: str
    prediction: str
    scores: np.ndarray
    top: list[tuple[str, float]]
    rows: list[list[str]]
    trace: Trace
    unknown_words: list[str] = field(default_factory=list)
    predicted_row: int = 0


class Predictor:
    def __init__(self, ckpt: dict, device: str = "cpu"):
        self.ckpt = ckpt
        self.path = ckpt["path"]
        self.config, self.model = build_model(ckpt)
        self.device = torch.device(device)
        self.model.to(self.device).eval()
        fold_weight_norm(self.model)
        self.vocab = Vocab.from_list(ckpt["vocab"])
        self.answers: Optional[list[str]] = ckpt.get("answers")
        self.task = self.config.data.task
        self.kind = kind_of(self.task).name

    @classmethod
    def load(cls, path, device: str = "cpu") -> "Predictor":
        return cls(load_checkpoint(path), device)

    def _check_features(self, appearance: np.ndarray, motion: np.ndarray) -> None:
        m = self.config.model
        if appearance.ndim != 2 or motion.ndim != 2 or appearance.shape[0] != motion.shape[0]:
            raise UserError(f"features must be [N, Da] and [N, Dm] with the same N (got {appearance.shape} and {motion.shape})")
        if appearance.shape[1] != m.appearance_dim or motion.shape[1] != m.motion_dim:
            raise UserError(f"features have dims {appearance.shape[1]}/{motion.shape[1]} but checkpoint {self.path} "
                            f"expects {m.appearance_dim}/{m.motion_dim}: extract with the checkpoint's extractors")

    @torch.no_grad()
    def explain(self, appearance: np.ndarray, motion: np.ndarray, question: str,
                candidates: Sequence[str] | None = None, *, video_mask: np.ndarray | None = None) -> Explanation:
        """Answer one question with the full trace. ``candidates`` (5) for multiple choice."""
        self._check_features(appearance, motion)
        words = tokenize(question)
        if not words:
            raise UserError("the question is empty: type a question")
        unknown = [w for w in words if self.vocab.stoi.get(w, self.vocab.UNK) == self.vocab.UNK]
        if len(unknown) == len(words):
            raise UserError(f"none of the question's words are in this checkpoint's vocabulary ({', '.join(unknown[:5])}): rephrase with words from the dataset")
        cands = list(candidates or [])
        if self.kind == "mc" and len(cands) != 5:
            raise UserError(f"a multiple-choice checkpoint needs 5 candidate answers (got {len(cands)})")
        if self.kind != "mc":
            cands = []
        source = "candidates" if self.config.model.baseline == "candidates-only" else "question"
        rows = encode_rows(question, cands, vocab=self.vocab, max_len=self.config.model.max_question_len, text_source=source)
        T = max(len(r) for r in rows)
        text = torch.zeros(len(rows), T, dtype=torch.long)
        for i, r in enumerate(rows):
            text[i, :len(r)] = torch.tensor(r)
        app = torch.from_numpy(np.ascontiguousarray(appearance, np.float32))[None].to(self.device)
        mot = torch.from_numpy(np.ascontiguousarray(motion, np.float32))[None].to(self.device)
        vm = None if video_mask is None else torch.from_numpy(np.asarray(video_mask, bool))[None].to(self.device)
        out = self.model(app, mot, text.to(self.device), torch.tensor([len(r) for r in rows], device=self.device),
                         vm, trace=True)
        trace = out.trace.numpy()
        s = out.scores.float().cpu()[0] if out.scores.dim() > 1 else out.scores.float().cpu()
        token_rows = [self.vocab.decode(r) for r in rows]
        if self.kind == "count":
            raw = float(s.reshape(-1)[0])
            pred = int(count_prediction(torch.tensor(raw)))
            return Explanation("count", str(pred), np.array([raw]), [(str(pred), raw)], token_rows, trace, unknown)
        probs = s.softmax(-1).numpy()
        order = np.argsort(-probs)[:5]
        if self.kind == "mc":
            return Explanation("mc", cands[int(order[0])], s.numpy(), [(cands[i], float(probs[i])) for i in order],
                               token_rows, trace, unknown, predicted_row=int(order[0]))
        return Explanation("open", self.answers[int(order[0])], probs, [(self.answers[i], float(probs[i])) for i in order],
                           token_rows, trace, unknown)

    # -- the checkpoint's own data ---------------------------------------------------------
    def data_path(self, value: str) -> Path | None:
        """A data path stored in the config: as given, else relative to the project root
        (the demo's checkpoints store repo-relative paths so that a clone works anywhere)."""
        if not value:
            return None
        p = Path(value)
        for cand in (p, PROJECT_ROOT / p):
            if cand.exists():
                return cand
        return None

    def records(self, split: str) -> list[QARecord]:
        """The questions of one split of the dataset this checkpoint was trained on (its
        own annotations: data.train_extra's questions are not listed, their videos may be
        in a store the predictor does not open)."""
        from .data.pipeline import load_splits
        ann = self.data_path(self.config.data.annotations)
        if ann is None:
            raise UserError(f"annotations '{self.config.data.annotations}' of checkpoint {self.path} are not on this machine")
        data = replace(self.config.data, annotations=str(ann), max_questions=None)
        return load_splits(data, extra=False).get(split, [])

    def feature_store(self):
        from .data.features import FeatureStore
        from .data.pipeline import check_dims
        path = self.data_path(self.config.data.features)
        if path is None:
            raise UserError(f"feature store '{self.config.data.features}' of checkpoint {self.path} is not on this machine: "
                            f"extract it or point the dashboard at it")
        store = FeatureStore(path)
        check_dims(store, self.config.model)
        return store

    def video_path(self, video_id: str) -> Path | None:
        """The video file of ``video_id`` in the config's data.videos folder, if present.

        Files are named by the id (TGIF-QA ``gif_name``, MSRVTT ``videoN``), except MSVD's:
        their stems are YouTube clip names, which the annotations' ``youtube_mapping.txt``
        maps to the ``vidN`` ids (the synthetic benchmark's MSVD-style set does the same)."""
        folder = self.data_path(self.config.data.videos)
        if folder is None:
            return None
        for stem in (video_id, self._clip_names().get(video_id)):
            for f in sorted(folder.glob(f"{stem}.*")) if stem else ():
                return f
        return None

    def _clip_names(self) -> dict[str, str]:
        """``vidN`` -> clip file stem for MSVD-QA checkpoints (read once); empty otherwise."""
        if not hasattr(self, "_clip_name_map"):
            self._clip_name_map = {}
            ann = self.data_path(self.config.data.annotations)
            if self.config.data.dataset == "msvd-qa" and ann is not None and (ann / "youtube_mapping.txt").is_file():
                from .data.readers import msvd_video_names
                self._clip_name_map = {vid: stem for stem, vid in msvd_video_names(ann).items()}
        return self._clip_name_map

    def explain_record(self, record: QARecord, store) -> Explanation:
        app, mot = store.get(record.video_id)
        return self.explain(app, mot, record.question, record.candidates or None)
