"""Fine-tuning of the encoder's last layer on the intents' examples, in numpy.

With ten examples per intent a frozen sentence encoder puts some intents too close
together ("my card has not arrived" / "when will my card arrive?"). Training the last of
MiniLM's six layers contrastively on the intents' own examples (multiple-negatives ranking
loss: each example must be closer to another example of its intent than to the other
pairs of its batch) pulls them apart. Only that layer learns, from the token states the
five frozen layers produce once per example, so training needs no autograd library: the
forward pass and its gradient are written out below (checked against finite differences
in the tests). With many examples per intent it is trained on a sample of each, with the
out-of-scope examples as extra negatives. docs/benchmarks-intents.md has the measurements
(fine-tuning the encoder's last layer, in numpy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import erf

FloatArray = npt.NDArray[np.float32]
Params = dict[str, FloatArray]

_HEADS = 12
_EPSILON = 1e-12  # the export's LayerNorm epsilon


@dataclass(frozen=True)
class FinetuneSettings:
    """How the last layer is trained (defaults chosen on the BANKING77 10-shot holdout)."""

    epochs: int = 2
    learning_rate: float = 2e-4
    scale: float = 20.0  # cosine similarities are multiplied by this before the softmax
    batch_size: int = 16  # anchors per step, each of a different intent
    weight_decay: float = 0.01
    seed: int = 0


def pad(states: Sequence[FloatArray]) -> tuple[FloatArray, FloatArray]:
    """Token-state matrices of different lengths as one zero-padded batch and its mask."""
    width = max(len(s) for s in states)
    x = np.zeros((len(states), width, states[0].shape[1]), dtype=np.float32)
    mask = np.zeros((len(states), width), dtype=np.float32)
    for row, s in enumerate(states):
        x[row, : len(s)] = s
        mask[row, : len(s)] = 1.0
    return x, mask


def _layer_norm(z: FloatArray, gamma: FloatArray, beta: FloatArray
                ) -> tuple[FloatArray, tuple[FloatArray, FloatArray]]:
    mean = z.mean(axis=-1, keepdims=True)
    inv = 1.0 / np.sqrt(z.var(axis=-1, keepdims=True) + _EPSILON)
    normed = (z - mean) * inv
    return normed * gamma + beta, (normed, inv)


def _layer_norm_grad(grad: FloatArray, gamma: FloatArray, cache: tuple[FloatArray, FloatArray]
                     ) -> tuple[FloatArray, FloatArray, FloatArray]:
    normed, inv = cache
    d_normed = grad * gamma
    dz = inv * (d_normed - d_normed.mean(axis=-1, keepdims=True)
                - normed * (d_normed * normed).mean(axis=-1, keepdims=True))
    return dz, (grad * normed).sum(axis=(0, 1)), grad.sum(axis=(0, 1))


def _outer(a: FloatArray, b: FloatArray) -> FloatArray:
    """Sum over batch and tokens of the outer products: a weight's gradient."""
    out: FloatArray = a.reshape(-1, a.shape[-1]).T @ b.reshape(-1, b.shape[-1])
    return out


def forward(p: Params, x: FloatArray, mask: FloatArray) -> tuple[FloatArray, dict[str, object]]:
    """Unit sentence embeddings of a padded batch of token states, and what the gradient
    needs: the encoder graph's last layer, in the inputs' precision (float32 in use)."""
    b, t, d = x.shape
    head = d // _HEADS

    def heads(z: FloatArray) -> FloatArray:
        return z.reshape(b, t, _HEADS, head).transpose(0, 2, 1, 3)

    q, k, v = (heads(x @ p[r] + p["b" + r]) for r in "qkv")
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head) + (mask[:, None, None, :] - 1) * 1e9
    attn = np.exp(scores - scores.max(axis=-1, keepdims=True))
    attn /= attn.sum(axis=-1, keepdims=True)
    ctx = (attn @ v).transpose(0, 2, 1, 3).reshape(b, t, d)
    h, ln1 = _layer_norm(ctx @ p["o"] + p["bo"] + x, p["g1"], p["be1"])
    up = h @ p["f1"] + p["b1"]
    cdf = 0.5 * (1.0 + erf(up / math.sqrt(2.0)))
    gelu = up * cdf
    out, ln2 = _layer_norm(gelu @ p["f2"] + p["b2"] + h, p["g2"], p["be2"])
    counts = mask.sum(axis=1, keepdims=True)
    pooled = (out * mask[..., None]).sum(axis=1) / counts
    norm = np.linalg.norm(pooled, axis=1, keepdims=True)
    emb = pooled / norm
    cache = {"x": x, "mask": mask, "q": q, "k": k, "v": v, "attn": attn, "ctx": ctx, "h": h,
             "ln1": ln1, "up": up, "cdf": cdf, "gelu": gelu, "ln2": ln2, "counts": counts,
             "norm": norm, "emb": emb}
    return emb, cache


def backward(p: Params, cache: dict[str, object], d_emb: FloatArray) -> Params:
    """Gradients of every parameter given the loss's gradient on the unit embeddings."""
    c: dict[str, npt.NDArray[np.float32]] = cache  # type: ignore[assignment]
    x, mask, emb = c["x"], c["mask"], c["emb"]
    b, t, d = x.shape
    head = d // _HEADS
    g: Params = {}
    d_pooled = (d_emb - emb * (emb * d_emb).sum(axis=1, keepdims=True)) / c["norm"]
    d_out = (d_pooled / c["counts"])[:, None, :] * mask[..., None]
    dz2, g["g2"], g["be2"] = _layer_norm_grad(d_out, p["g2"], c["ln2"])  # type: ignore[arg-type]
    g["f2"] = _outer(c["gelu"], dz2)
    g["b2"] = dz2.sum(axis=(0, 1))
    up, cdf = c["up"], c["cdf"]
    d_up = (dz2 @ p["f2"].T) * (cdf + up * np.exp(-0.5 * up * up) / math.sqrt(2 * math.pi))
    g["f1"] = _outer(c["h"], d_up)
    g["b1"] = d_up.sum(axis=(0, 1))
    dh = d_up @ p["f1"].T + dz2
    dz1, g["g1"], g["be1"] = _layer_norm_grad(dh, p["g1"], c["ln1"])  # type: ignore[arg-type]
    g["o"] = _outer(c["ctx"], dz1)
    g["bo"] = dz1.sum(axis=(0, 1))
    d_ctx = (dz1 @ p["o"].T).reshape(b, t, _HEADS, head).transpose(0, 2, 1, 3)
    attn = c["attn"]
    d_attn = d_ctx @ c["v"].transpose(0, 1, 3, 2)
    dv = attn.transpose(0, 1, 3, 2) @ d_ctx
    d_scores = attn * (d_attn - (d_attn * attn).sum(axis=-1, keepdims=True)) / math.sqrt(head)
    dq = d_scores @ c["k"]
    dk = d_scores.transpose(0, 1, 3, 2) @ c["q"]
    for role, grad in (("q", dq), ("k", dk), ("v", dv)):
        flat = grad.transpose(0, 2, 1, 3).reshape(b, t, d)
        g[role] = _outer(x, flat)
        g["b" + role] = flat.sum(axis=(0, 1))
    return g


def ranking_loss(emb: FloatArray, scale: float, anchors: int | None = None
                 ) -> tuple[float, FloatArray]:
    """Multiple-negatives ranking loss of ``emb`` = [anchors; positives; extra negatives]
    and its gradient: anchor i must pick positive i among all the other rows. ``anchors``
    defaults to half the rows (no extra negatives)."""
    n = emb.shape[0] // 2 if anchors is None else anchors
    first, rest = emb[:n], emb[n:]
    logits = scale * first @ rest.T
    logits -= logits.max(axis=1, keepdims=True)
    prob = np.exp(logits)
    prob /= prob.sum(axis=1, keepdims=True)
    loss = float(-np.log(prob[np.arange(n), np.arange(n)] + 1e-30).mean())
    d_logits = prob
    d_logits[np.arange(n), np.arange(n)] -= 1.0
    d_logits *= scale / n
    grad = np.concatenate([d_logits @ rest, d_logits.T @ first])
    return loss, grad


def _batches(y: npt.NDArray[np.int64], size: int, rng: np.random.Generator) -> list[list[int]]:
    """Every example once as an anchor, in batches whose anchors have distinct intents
    (two anchors of one intent would each count the other's positive as a negative)."""
    left = [int(i) for i in rng.permutation(len(y))]
    out: list[list[int]] = []
    while left:
        batch: list[int] = []
        seen: set[int] = set()
        rest: list[int] = []
        for i in left:
            if len(batch) < size and int(y[i]) not in seen:
                batch.append(i)
                seen.add(int(y[i]))
            else:
                rest.append(i)
        out.append(batch)
        left = rest
    return out


def finetune(states: Sequence[FloatArray], y: npt.NDArray[np.int64], initial: Params,
             settings: FinetuneSettings, negatives: Sequence[FloatArray] = ()) -> Params:
    """The last layer trained on ``states`` (one token-state matrix per example, labels
    ``y``) from ``initial``, with AdamW. ``negatives`` (out-of-scope examples) join each
    batch as extra wrong answers for every anchor, so they are pushed away from all
    intents. Deterministic for a given ``settings.seed``."""
    rng = np.random.default_rng(settings.seed)
    p = {name: a.astype(np.float32).copy() for name, a in initial.items()}
    m = {name: np.zeros_like(a) for name, a in p.items()}
    v = {name: np.zeros_like(a) for name, a in p.items()}
    members: dict[int, list[int]] = {}
    for i, label in enumerate(y):
        members.setdefault(int(label), []).append(i)
    beta1, beta2, step = 0.9, 0.999, 0
    for _ in range(settings.epochs):
        for anchors in _batches(y, settings.batch_size, rng):
            positives = []
            for a in anchors:
                others = [j for j in members[int(y[a])] if j != a]
                positives.append(int(rng.choice(others)) if others else a)
            extra = [negatives[int(j)] for j in rng.permutation(len(negatives))[:len(anchors)]]
            x, mask = pad([states[i] for i in anchors + positives] + extra)
            emb, cache = forward(p, x, mask)
            _, d_emb = ranking_loss(emb, settings.scale, len(anchors))
            grads = backward(p, cache, d_emb)
            step += 1
            lr = settings.learning_rate
            for name, grad in grads.items():
                p[name] *= 1.0 - lr * settings.weight_decay
                m[name] = beta1 * m[name] + (1 - beta1) * grad
                v[name] = beta2 * v[name] + (1 - beta2) * grad * grad
                m_hat = m[name] / (1 - beta1**step)
                v_hat = v[name] / (1 - beta2**step)
                p[name] -= (lr * m_hat / (np.sqrt(v_hat) + 1e-8)).astype(np.float32)
    return p
