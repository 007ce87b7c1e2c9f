"""Configuration as dataclasses: defaults in code, dotted overrides, one validate().

    cfg = Config()
    apply_overrides(cfg, ["model.hidden=128", "train.epochs=3", "model.variant=Attv"])
    cfg.validate()

The resolved config is written as JSON into the run folder and stored (as plain dicts)
inside every checkpoint, so a checkpoint rebuilds its own model.
"""
from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Optional

from .errors import UserError

# Table 1 of the paper, as in spec section 6:
# name -> (visual memory text-augmented, textual memory video-augmented,
#          video self-attention, text self-attention, co-attention)
VARIANTS: dict[str, tuple[bool, bool, bool, bool, str]] = {
    "Mv+Mt":     (False, False, False, False, "none"),
    "Mt2v+Mt":   (True,  False, False, False, "none"),
    "Mt2v+Mv2t": (True,  True,  False, False, "none"),
    "Attv":      (True,  True,  True,  False, "none"),
    "Attt":      (True,  True,  False, True,  "none"),
    "Attv+Attt": (True,  True,  True,  True,  "none"),
    "Attv2t":    (True,  True,  True,  True,  "v2t"),
    "Attvt-all": (True,  True,  True,  True,  "both"),
}
BASELINES = ("none", "question-only", "candidates-only")
DATASETS = ("tgif-qa", "msvd-qa", "msrvtt-qa")


@dataclass
class ModelConfig:
    variant: str = "Attvt-all"          # a Table-1 name, see VARIANTS
    baseline: str = "none"              # none | question-only | candidates-only (multiple choice)
    hidden: int = 512                   # d
    embed_dim: int = 300                # word embedding size (GloVe is 300-d)
    visual_slots: int = 50              # S_v (Figure 5 sweeps this)
    text_slots: int = 30                # S_t
    num_frames: int = 35                # N
    max_question_len: int = 20          # T_max: tokens of question (+ candidate); W^q_A, W^q_B map T_max -> d
    appearance_dim: int = 2048          # Da (set from the feature store at train time)
    motion_dim: int = 4096              # Dm
    heads: int = 1                      # attention heads (paper: 1)          [switch]
    pooling: str = "mean"               # mean | max | attention               [switch]
    question_summary: str = "last"      # i^q = W_q . last_valid(I^q) | mean    [switch]
    video_summary: str = "mean"         # i^a, i^m = W . mean(I) | last         [switch]
    weight_norm: bool = True            # weight normalisation on the linear layers [switch]
    # Self-attention as the non-local block the paper feeds Vid / Tex into (Wang et al.
    # 2018: z = x + W_z·Attn(x)): V0 = Vid + Attn(Vid), T0 = Tex + Attn(Tex). The spec
    # reads Eq. 17-18 without the "+ x"; a near-uniform self-attention then returns the
    # same vector at every frame and the co-attention has no frame left to pick. [switch]
    attention_residual: bool = False
    # The visual memory as an augmentation of the encoders rather than their replacement:
    # Vid_t = h^v_t + I^a_t + I^m_t. Eq. 4 gives h^v_t the frames only through the memory
    # read r_t (a convex mix of slots written one step earlier), so the per-frame detail
    # the encoders hold barely reaches Vid; the paper's text calls h^v the state that
    # "integrates motion and appearance", and its predecessor HME also attends over the
    # encoder outputs next to the memory. False is the spec's Vid = [h^v_1 .. h^v_N]. [switch]
    memory_residual: bool = False
    # How a multiple-choice row (question + candidate c) is scored. "linear" is spec 5,
    # s_c = w . f_c + b: the candidate reaches its score only through f_c, and the hinge loss
    # can sit on its plateau (all five scored alike) where an open-ended head, one output
    # row per answer, learns. "candidate" adds that per-answer row, made from the row's own
    # words: s_c = w . f_c + b + f_c . P mean_t(e_t), e_t the row's word embeddings (the
    # question's words are common to the five rows, so the candidate's set them apart).
    mc_head: str = "linear"             # linear | candidate                   [switch]
    dropout: float = 0.0
    vocab_size: int = 0                 # set from the data at train time
    num_answers: int = 0                # open-ended answer vocabulary size
    task: str = "count"                 # count | action | transition | frameqa | open

    @property
    def flags(self) -> tuple[bool, bool, bool, bool, str]:
        return VARIANTS[self.variant]

    def validate(self) -> None:
        if self.variant not in VARIANTS:
            raise UserError(f"model.variant '{self.variant}' is unknown: use one of {', '.join(VARIANTS)}")
        if self.baseline not in BASELINES:
            raise UserError(f"model.baseline '{self.baseline}' is unknown: use one of {', '.join(BASELINES)}")
        from .tasks import kind_of
        kind = kind_of(self.task)
        if self.baseline == "candidates-only" and kind.name != "mc":
            raise UserError(f"model.baseline=candidates-only needs a multiple-choice task (action, transition), not '{self.task}'")
        for name in ("hidden", "embed_dim", "visual_slots", "text_slots", "num_frames", "max_question_len", "heads"):
            if getattr(self, name) < 1:
                raise UserError(f"model.{name} must be >= 1 (got {getattr(self, name)})")
        if self.hidden % self.heads:
            raise UserError(f"model.hidden ({self.hidden}) must be divisible by model.heads ({self.heads})")
        if self.pooling not in ("mean", "max", "attention"):
            raise UserError(f"model.pooling '{self.pooling}' is unknown: use mean, max or attention")
        if self.question_summary not in ("last", "mean") or self.video_summary not in ("last", "mean"):
            raise UserError("model.question_summary and model.video_summary must be 'last' or 'mean'")
        if self.mc_head not in ("linear", "candidate"):
            raise UserError(f"model.mc_head '{self.mc_head}' is unknown: use linear or candidate")
        if self.mc_head == "candidate" and kind.name != "mc":
            raise UserError(f"model.mc_head=candidate needs a multiple-choice task (action, transition), not '{self.task}'")
        if not 0.0 <= self.dropout < 1.0:
            raise UserError(f"model.dropout must be in [0, 1) (got {self.dropout})")


# The ModelConfig fields marked [switch]: readings of the paper other than the spec's.
SWITCHES = ("pooling", "attention_residual", "memory_residual", "mc_head", "heads", "question_summary",
            "video_summary", "weight_norm")


def switched(model: Mapping[str, object]) -> list[str]:
    """The switches a model config (a ModelConfig's fields, e.g. config.json's "model")
    sets away from the spec's reading, as short words: ``["pooling=max", "memory_residual"]``."""
    default = ModelConfig()
    out = []
    for key in SWITCHES:
        value, spec = model.get(key, getattr(default, key)), getattr(default, key)
        if value == spec:
            continue
        out.append(key if value is True else f"no {key}" if value is False else f"{key}={value}")
    return out


@dataclass
class DataConfig:
    dataset: str = "tgif-qa"            # tgif-qa | msvd-qa | msrvtt-qa
    task: str = "count"                 # TGIF-QA: count|action|transition|frameqa; MSVD/MSRVTT: open
    annotations: str = ""               # folder with the dataset's annotation files
    features: str = ""                  # HDF5 feature store
    videos: str = ""                    # optional folder of the video files (the dashboard shows frames)
    val_fraction: float = 0.1           # carved from train where the dataset has no val split
    split_seed: int = 0
    answer_top_k: Optional[int] = None  # None: the dataset's convention (1000 MSVD/MSRVTT, all for FrameQA)
    glove: str = ""                     # optional GloVe text file to initialise the embedding
    max_questions: Optional[int] = None # per split, for quick experiments (first K, deterministic)
    # More training questions from another annotation folder of the same dataset format
    # and task: every question of it (all its splits) joins the training split; val and
    # test stay those of data.annotations. Its videos may live in their own store.
    train_extra: str = ""
    train_extra_features: str = ""      # the store of train_extra's videos ("": data.features)

    def validate(self) -> None:
        if self.dataset not in DATASETS:
            raise UserError(f"data.dataset '{self.dataset}' is unknown: use one of {', '.join(DATASETS)}")
        if self.train_extra_features and not self.train_extra:
            raise UserError("data.train_extra_features is set but data.train_extra is not: "
                            "give the extra questions' annotation folder too")
        if not 0.0 < self.val_fraction < 1.0:
            raise UserError(f"data.val_fraction must be in (0, 1) (got {self.val_fraction})")


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 32                # global batch (split across DDP ranks)
    lr: float = 1e-4
    weight_decay: float = 0.0
    grad_clip: float = 10.0             # max global grad norm; 0 disables
    seed: int = 0
    workers: int = 0                    # DataLoader workers
    device: str = "auto"                # auto | cpu | cuda | cuda:K
    amp: bool = True                    # bf16 autocast on CUDA (ignored on CPU)
    lr_step: int = 10                   # StepLR period in epochs (0: constant lr)
    lr_gamma: float = 0.5
    log_every: int = 50                 # steps between progress-bar postfix updates
    progress: bool = True

    def validate(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise UserError("train.epochs and train.batch_size must be >= 1")
        if self.lr <= 0:
            raise UserError(f"train.lr must be > 0 (got {self.lr})")


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> None:
        self.model.task = self.data.task
        self.model.validate()
        self.data.validate()
        self.train.validate()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        """Rebuild from a saved dict; unknown keys (from a newer version) are an error."""
        cfg = cls()
        for section, values in d.items():
            if not hasattr(cfg, section):
                raise UserError(f"config section '{section}' is unknown to this version")
            target = getattr(cfg, section)
            for k, v in values.items():
                if not hasattr(target, k):
                    raise UserError(f"config field '{section}.{k}' is unknown to this version")
                setattr(target, k, v)
        return cfg

    def save(self, path) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2, sort_keys=True)


def _coerce(value: str, annotation: Any, key: str) -> Any:
    """Parse the text of an override into the field's declared type."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union:  # Optional[X]
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value.lower() in ("none", "null", ""):
            return None
        return _coerce(value, args[0], key)
    try:
        if annotation is bool:
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if annotation is int:
            return int(value)
        if annotation is float:
            return float(value)
        if annotation is str:
            return value
    except ValueError:
        pass
    raise UserError(f"override {key}={value!r}: expected a value of type {getattr(annotation, '__name__', annotation)}")


def apply_overrides(cfg: Config, overrides: list[str]) -> Config:
    """Apply ``section.field=value`` strings, checking that the field exists and the type fits."""
    hints = {name: typing.get_type_hints(type(getattr(cfg, name))) for name in ("model", "data", "train")}
    for item in overrides:
        if "=" not in item:
            raise UserError(f"override '{item}' must look like section.field=value (e.g. model.hidden=256)")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        if len(parts) != 2 or parts[0] not in hints:
            raise UserError(f"override '{key}' must be model.<field>, data.<field> or train.<field>")
        section, name = parts
        if name not in hints[section]:
            known = ", ".join(f.name for f in dataclasses.fields(getattr(cfg, section)))
            raise UserError(f"override '{key}': no such field; {section} has {known}")
        setattr(getattr(cfg, section), name, _coerce(value.strip(), hints[section][name], key))
    return cfg
