"""The model: trace shapes, trace on/off equivalence, every variant forward+backward,
padding invariance, overfitting one batch per head."""
import dataclasses

import pytest
import torch

from helpers import tiny_inputs, tiny_model_config
from videoqa_core.config import VARIANTS
from videoqa_core.model.videoqa import VideoQAModel
from videoqa_core.tasks import kind_of

TASKS = ["count", "action", "frameqa"]


def build(task="count", **kw):
    torch.manual_seed(0)
    cfg = tiny_model_config(task, **kw)
    return cfg, VideoQAModel(cfg).eval()


@pytest.mark.parametrize("task", TASKS)
def test_trace_shapes(task):
    cfg, m = build(task)
    B = 3
    R = B * (5 if task == "action" else 1)
    N, T, Sv, St = cfg.num_frames, cfg.max_question_len, cfg.visual_slots, cfg.text_slots
    out = m(*tiny_inputs(cfg, B), trace=True)
    want = {"visual_read": (R, N, Sv), "visual_write_app": (R, N, Sv), "visual_write_mot": (R, N, Sv),
            "visual_gates": (R, N, 3), "visual_memory_norm": (R, N, Sv), "text_read": (R, T, St),
            "text_write": (R, T, St), "text_memory_norm": (R, T, St), "video_self_attn": (R, N, N),
            "text_self_attn": (R, T, T), "affinity": (R, N, T), "v2t_attn": (R, N, T), "t2v_attn": (R, N, N),
            "video_mask": (R, N), "text_mask": (R, T)}
    got = {f.name: tuple(getattr(out.trace, f.name).shape) for f in dataclasses.fields(out.trace)}
    assert got == want
    # read/write weights and gates are distributions
    for name in ("visual_read", "visual_write_app", "visual_write_mot", "visual_gates", "text_read", "text_write"):
        s = getattr(out.trace, name).sum(-1)
        assert torch.allclose(s, torch.ones_like(s), atol=1e-5), name
    # attention maps put no weight on padded words
    tm = out.trace.text_mask
    assert out.trace.v2t_attn.masked_select(~tm[:, None, :].expand_as(out.trace.v2t_attn)).abs().max().item() == 0.0
    assert out.trace.affinity.masked_select(~tm[:, None, :].expand_as(out.trace.affinity)).abs().max().item() == 0.0
    expected_scores = {"count": (B,), "action": (B, 5), "frameqa": (B, cfg.num_answers)}[task]
    assert tuple(out.scores.shape) == expected_scores
    row = out.trace.numpy().row(0)
    assert row.visual_read.shape == (N, Sv)


@pytest.mark.parametrize("task", TASKS)
def test_trace_does_not_change_scores(task):
    cfg, m = build(task)
    x = tiny_inputs(cfg)
    with torch.no_grad():
        a = m(*x).scores
        b = m(*x, trace=True).scores
    assert torch.equal(a, b)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("task", TASKS)
def test_every_variant_forward_backward(variant, task):
    cfg, m = build(task, variant=variant)
    m.train()
    out = m(*tiny_inputs(cfg), trace=True)
    target = {"count": torch.tensor([1.0, 4.0, 7.0]), "action": torch.tensor([0, 2, 4]),
              "frameqa": torch.tensor([0, 3, -1])}[task]
    loss = kind_of(task).loss(out.scores, target)
    loss.backward()
    grads = [p.grad for p in m.parameters() if p.requires_grad]
    assert torch.isfinite(loss)
    assert sum(g is not None and bool(g.abs().sum() > 0) for g in grads) > 0.8 * len(grads)
    tr = out.trace
    vis_aug, txt_aug, vsa, tsa, co = VARIANTS[variant]
    assert (tr.video_self_attn is not None) == vsa
    assert (tr.text_self_attn is not None) == tsa
    assert (tr.v2t_attn is not None) == (co != "none")
    assert (tr.t2v_attn is not None) == (co == "both")


def test_variant_flags_change_the_parameters():
    _, full = build("count", variant="Attvt-all")
    _, plain = build("count", variant="Mv+Mt")
    # text-augmented visual memory: FC_a takes i^q too (4d inputs vs 3d)
    assert full.visual_memory.fc_a.in_features == 4 * 16 and plain.visual_memory.fc_a.in_features == 3 * 16
    # video-augmented textual memory: FC_q takes i^a, i^m (5d vs 3d)
    assert full.text_memory.fc_q.in_features == 5 * 16 and plain.text_memory.fc_q.in_features == 3 * 16


@pytest.mark.parametrize("baseline,task", [("question-only", "count"), ("question-only", "frameqa"),
                                           ("question-only", "action"), ("candidates-only", "action")])
def test_baselines_never_see_the_video(baseline, task):
    cfg, m = build(task, baseline=baseline)
    app, mot, text, tl = tiny_inputs(cfg)
    with torch.no_grad():
        a = m(app, mot, text, tl, trace=True)
        b = m(app * 0 + 5, mot.flip(1) * 3, text, tl)
    assert torch.equal(a.scores, b.scores)
    assert a.trace.visual_read is None and a.trace.v2t_attn is None
    assert not any("app_lstm" in n or "visual_memory" in n for n, _ in m.named_parameters())


def test_candidates_only_needs_multiple_choice():
    from videoqa_core.errors import UserError
    with pytest.raises(UserError, match="multiple-choice"):
        tiny_model_config("count", baseline="candidates-only").validate()


@pytest.mark.parametrize("task", TASKS)
def test_padding_invariance(task):
    """More padding (extra masked frames, shorter questions batched with longer ones)
    gives the same outputs for a question."""
    cfg, m = build(task)
    app, mot, text, tl = tiny_inputs(cfg, B=2)
    with torch.no_grad():
        ref = m(app, mot, text, tl, trace=True)
        # 3 extra padded frames, masked
        pad = lambda x: torch.cat([x, torch.randn(x.shape[0], 3, x.shape[2])], 1)  # noqa: E731
        vm = torch.cat([torch.ones(2, cfg.num_frames, dtype=torch.bool), torch.zeros(2, 3, dtype=torch.bool)], 1)
        out = m(pad(app), pad(mot), text, tl, vm, trace=True)
        # garbage in the padded token positions must not matter either
        noisy = text.clone()
        noisy[torch.arange(cfg.max_question_len)[None].expand_as(text) >= tl[:, None]] = 7
        out2 = m(app, mot, noisy, tl)
    assert torch.allclose(ref.scores, out.scores, atol=1e-5)
    assert torch.allclose(ref.scores, out2.scores, atol=1e-5)
    N = cfg.num_frames
    assert torch.allclose(ref.trace.visual_read, out.trace.visual_read[:, :N], atol=1e-5)
    assert float(out.trace.video_self_attn[:, :N, N:].abs().max()) == 0.0


def test_batch_composition_invariance():
    """A question's scores do not depend on which other questions share its batch."""
    cfg, m = build("frameqa")
    app, mot, text, tl = tiny_inputs(cfg, B=4)
    with torch.no_grad():
        together = m(app, mot, text, tl).scores
        alone = torch.cat([m(app[i:i + 1], mot[i:i + 1], text[i:i + 1, :int(tl[i])], tl[i:i + 1]).scores for i in range(4)])
    assert torch.allclose(together, alone, atol=1e-5)


@pytest.mark.parametrize("task", TASKS)
def test_overfit_one_batch(task):
    cfg, m = build(task)
    m.train()
    x = tiny_inputs(cfg, B=6)
    target = {"count": torch.tensor([1.0, 3, 5, 7, 9, 10]), "action": torch.tensor([0, 1, 2, 3, 4, 0]),
              "frameqa": torch.tensor([0, 1, 2, 3, 4, 5])}[task]
    kind = kind_of(task)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    first = None
    for _ in range(150):
        loss = kind.loss(m(*x).scores, target)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    with torch.no_grad():
        pred, _ = kind.predict(m(*x).scores)
    assert loss.item() < 0.05 * first
    assert bool(kind.correct(pred, target).all())


def test_weight_norm_switch_and_fold():
    from videoqa_core.model.layers import fold_weight_norm
    cfg, m = build("count")
    assert any(n.endswith(".g") for n, _ in m.named_parameters())
    x = tiny_inputs(cfg)
    with torch.no_grad():
        before = m(*x).scores
        fold_weight_norm(m)
        after = m(*x).scores
    assert not any(n.endswith(".g") for n, _ in m.named_parameters())
    assert torch.allclose(before, after, atol=1e-5)
    _, plain = build("count", weight_norm=False)
    assert not any(n.endswith(".g") for n, _ in plain.named_parameters())


@pytest.mark.parametrize("opt", [dict(heads=2), dict(pooling="max"), dict(pooling="attention"),
                                 dict(question_summary="mean", video_summary="last"), dict(visual_slots=7, text_slots=2)])
def test_switches_run(opt):
    cfg, m = build("action", **opt)
    out = m(*tiny_inputs(cfg), trace=True)
    assert out.scores.shape == (3, 5) and torch.isfinite(out.scores).all()
    assert out.trace.visual_read.shape[-1] == cfg.visual_slots


def test_fused_weight_cache_follows_parameter_changes():
    """Without autograd the fused per-step matrices are cached; any parameter update
    (optimizer step, load_state_dict) must invalidate them."""
    cfg, m = build("frameqa")
    x = tiny_inputs(cfg)
    with torch.no_grad():
        a = m(*x).scores
        assert torch.equal(a, m(*x).scores)
    opt = torch.optim.SGD(m.parameters(), lr=0.5)
    m.train()
    kind_of("frameqa").loss(m(*x).scores, torch.tensor([0, 1, 2])).backward()
    opt.step()
    m.eval()
    with torch.no_grad():
        b = m(*x).scores
        fresh = VideoQAModel(cfg).eval()
        fresh.load_state_dict(m.state_dict())
        assert torch.allclose(b, fresh(*x).scores, atol=1e-6)
        m.load_state_dict(build("frameqa")[1].state_dict())
        assert torch.allclose(m(*x).scores, a, atol=1e-6)
    assert not torch.allclose(a, b)


def test_attention_residual_keeps_frames_apart_when_self_attention_is_uniform():
    """model.attention_residual (the non-local block's ``z = x + Attn(x)``): a uniform
    video self-attention returns the mean of the values at every frame, so without the
    residual the affinity Sm has one row repeated N times and no frame can be told from
    another downstream; with it, the rows differ. The switch adds no tensor, so one
    state dict serves both readings."""
    rows = {}
    for residual in (False, True):
        cfg, m = build("action", attention_residual=residual)
        with torch.no_grad():
            m.video_sa.qkv.g[: 2 * cfg.hidden] = 0.0     # W^q = W^k = 0: constant logits
        out = m(*tiny_inputs(cfg), trace=True)
        vmap = out.trace.video_self_attn[0]
        assert torch.allclose(vmap, torch.full_like(vmap, 1.0 / cfg.num_frames), atol=1e-6)
        rows[residual] = out.trace.affinity[0].var(0).max().item()       # spread across frames
        rows[f"keys{residual}"] = set(m.state_dict())
    assert rows[False] < 1e-10 < 1e-4 < rows[True]
    assert rows["keysFalse"] == rows["keysTrue"]


def test_memory_residual_adds_the_encoder_outputs_to_the_memory_output():
    """model.memory_residual: Vid = h^v + I^a + I^m instead of the spec's Vid = h^v.
    Checked where Vid enters the video self-attention, against the encoders and the
    memory run on their own; off, Vid is the memory's output alone. No new tensors."""
    seen, keys = {}, {}
    for on in (False, True):
        cfg, m = build("action", memory_residual=on)
        app, mot, text, text_len = tiny_inputs(cfg)
        hook = m.video_sa.register_forward_pre_hook(lambda mod, args: seen.__setitem__(on, args[0].detach()))
        with torch.no_grad():
            m(app, mot, text, text_len)
            hook.remove()
            mask = torch.ones(app.shape[:2], dtype=torch.bool)
            Ia, Im, _, _ = m.encode_video(app, mot, mask)
            iq = m.q_summary(m.text_lstm(m.embedding(text))[0][torch.arange(len(text)), text_len - 1])
            Ia, Im, mask = (x.repeat_interleave(5, 0) for x in (Ia, Im, mask))
            hv, _ = m.visual_memory(Ia, Im, iq, mask)
        want = hv + Ia + Im if on else hv
        assert torch.allclose(seen[on], want, atol=1e-5)
        keys[on] = set(m.state_dict())
    assert keys[False] == keys[True]
    assert not torch.allclose(seen[False], seen[True])


def test_candidate_head_adds_a_per_answer_row_made_from_the_rows_words():
    """model.mc_head=candidate: s_c = w . f_c + b + f_c . P mean_t(e_t). Checked from the
    head's input f (hooked) and the row's word embeddings; with P at zero it is exactly
    the linear head of the same weights; it is refused for a task without candidates."""
    from videoqa_core.errors import UserError

    cfg, m = build("action", mc_head="candidate")
    app, mot, text, text_len = tiny_inputs(cfg)
    got = {}
    hook = m.head.register_forward_hook(lambda mod, args, out: got.update(f=args[0].detach(), lin=out.detach()))
    with torch.no_grad():
        s = m(app, mot, text, text_len).scores                              # (B, 5)
        hook.remove()
        mask = (torch.arange(text.shape[1])[None] < text_len[:, None]).float()[..., None]
        bag = (m.embedding(text) * mask).sum(1) / mask.sum(1)               # (R, e)
        want = got["lin"][:, 0] + (got["f"] * m.cand_proj(bag)).sum(-1)
        assert torch.allclose(s.reshape(-1), want, atol=1e-5)
        assert not torch.allclose(s.reshape(-1), got["lin"][:, 0])
        _, lin = build("action")
        assert set(m.state_dict()) - set(lin.state_dict()) == {"cand_proj.v", "cand_proj.g", "cand_proj.bias"}
        lin.load_state_dict({k: v for k, v in m.state_dict().items() if not k.startswith("cand_proj")})
        m.cand_proj.g.zero_(); m.cand_proj.bias.zero_()
        assert torch.allclose(m(app, mot, text, text_len).scores, lin(app, mot, text, text_len).scores, atol=1e-6)
    with pytest.raises(UserError, match="mc_head=candidate needs a multiple-choice task"):
        tiny_model_config("count", mc_head="candidate").validate()
