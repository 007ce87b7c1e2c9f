"""The one record type every dataset reader returns.

A reader turns a dataset's annotation files into ``list[QARecord]``; everything downstream
(vocabularies, the torch dataset, evaluation, the dashboard) sees only this type.
"""
from __future__ import annotations

from dataclasses import dataclass

# TGIF-QA tasks keep their names; MSVD-QA / MSRVTT-QA questions are task "open".
TASKS = ("count", "action", "transition", "frameqa", "open")


@dataclass(frozen=True)
class QARecord:
    """One question about one video.

    qid:        unique within its dataset+task (TGIF-QA ``vid_id``, MSVD/MSRVTT ``id``).
    video_id:   the key of the video in the feature store (TGIF-QA ``gif_name``,
                MSVD ``vid<N>``, MSRVTT ``video<N>``).
    question:   the raw question text.
    task:       one of :data:`TASKS`.
    qtype:      the question type used for per-type metrics: the task name for
                count/action/transition, ``object|number|color|location`` for FrameQA,
                the first word (``what|who|how|when|where|other``) for MSVD/MSRVTT.
    answer:     the answer text; for count the integer as text; for multiple choice the
                correct candidate's text.
    answer_index: multiple choice: index (0-4) of the correct candidate; else -1.
    candidates: multiple choice: the 5 candidate answers; else empty.
    split:      train | val | test.
    """

    qid: str
    video_id: str
    question: str
    task: str
    qtype: str
    answer: str
    split: str
    answer_index: int = -1
    candidates: tuple[str, ...] = ()
