"""StyleGAN2's losses: the maths of one training phase, each ending in `backward()`.

Written from the StyleGAN2 paper (Karras et al. 2020) and the ADA paper (Karras et al. 2020,
"Training Generative Adversarial Networks with Limited Data"). The training loop decides when
each phase runs and steps the optimisers; regularisers that run every k-th minibatch are
weighted by `gain=k` so they keep their strength ("lazy regularisation").

- G and D play the non-saturating logistic game: D minimises softplus(D(fake)) +
  softplus(-D(real)), G minimises softplus(-D(fake)).
- R1 penalises D's gradient on real images: (gamma / 2) * |grad_x D(x)|^2.
- Path-length regularisation asks a fixed-size step in w to move the image by a fixed amount.
- Style mixing feeds two latents to one image (crossing over at a random layer), so
  neighbouring styles do not learn to depend on each other.
- w_avg (the mean w truncation pulls towards) moves whenever the mapping runs for a training
  phase (G main, path-length reg, D main), as in NVIDIA's stylegan2-ada-pytorch; the second
  latent of style mixing does not move it.
- With an augmentation pipe whose p > 0, D only ever sees augmented images, real and fake
  alike, so the augmentations do not leak into what G learns (ADA).
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn

from fauxshop.image.networks import Discriminator, Generator


def r1_gamma_heuristic(resolution: tuple[int, int], batch: int) -> float:
    """The ADA paper's starting point for R1: gamma = 0.0002 * H * W / batch."""
    return 0.0002 * resolution[0] * resolution[1] / batch


class StyleGAN2Loss:
    """The phases of one minibatch: g_main, g_pl (lazy), d_main, d_r1 (lazy).

    Each returns detached statistics (tensors, so the loop syncs with the device only once per
    tick). `amp_dtype` runs the networks' adversarial passes under autocast (CPU or CUDA) with
    float32 master weights; the losses and both regularisers stay in float32, since R1 and
    path-length reg differentiate gradients, where bf16's 8-bit mantissa loses the penalty.
    """

    def __init__(
        self,
        G: Generator,
        D: Discriminator,
        augment_pipe: nn.Module | None = None,
        r1_gamma: float = 10.0,
        style_mixing_prob: float = 0.9,
        pl_weight: float = 0.0,
        pl_batch_shrink: int = 2,
        pl_decay: float = 0.01,
        amp_dtype: torch.dtype | None = None,
    ) -> None:
        self.G, self.D, self.augment_pipe = G, D, augment_pipe
        self.r1_gamma, self.style_mixing_prob = r1_gamma, style_mixing_prob
        self.pl_weight, self.pl_batch_shrink, self.pl_decay = pl_weight, pl_batch_shrink, pl_decay
        self.amp_dtype = amp_dtype
        self.device = next(G.parameters()).device
        self.pl_mean = torch.zeros([], device=self.device)

    def _autocast(self, fp32: bool) -> contextlib.AbstractContextManager:
        """amp_dtype autocast, unless there is none or the caller needs fp32 (regularisers)."""
        if self.amp_dtype is None or fp32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def generate(
        self, z: torch.Tensor, c: torch.Tensor, update_emas: bool = False, fp32: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fake images and the ws that made them, style-mixed with probability style_mixing_prob."""
        with self._autocast(fp32):
            ws = self.G.mapping(z, c, update_emas=update_emas)
            if self.style_mixing_prob > 0 and torch.rand([]).item() < self.style_mixing_prob:
                cutoff = int(torch.randint(1, ws.shape[1], []))
                other = self.G.mapping(torch.randn_like(z), c)
                ws = torch.cat([ws[:, :cutoff], other[:, cutoff:]], dim=1)
            img = self.G.synthesis(ws, noise_mode="random")
        return img.float(), ws

    def discriminate(self, img: torch.Tensor, c: torch.Tensor, fp32: bool = False) -> torch.Tensor:
        """D's logits (float32), on augmented images whenever the augmentation is active."""
        if self.augment_pipe is not None and float(self.augment_pipe.p) > 0:
            img = self.augment_pipe(img)
        with self._autocast(fp32):
            return self.D(img, c).float()

    def g_main(self, z: torch.Tensor, c: torch.Tensor) -> dict[str, torch.Tensor]:
        """G's adversarial step: make D call the fakes real."""
        img, _ = self.generate(z, c, update_emas=True)
        logits = self.discriminate(img, c)
        loss = F.softplus(-logits).mean()
        loss.backward()
        return {"loss_G": loss.detach(), "fake_logit": logits.detach().mean()}

    def g_pl(self, z: torch.Tensor, c: torch.Tensor, gain: float) -> dict[str, torch.Tensor]:
        """Path-length penalty on a smaller batch: |J_w^T y| should stay near its running mean."""
        n = max(1, z.shape[0] // self.pl_batch_shrink)
        img, ws = self.generate(z[:n], c[:n], update_emas=True, fp32=True)
        noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
        (grads,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
        lengths = grads.float().square().sum(dim=2).mean(dim=1).sqrt()
        pl_mean = self.pl_mean.lerp(lengths.mean().detach(), self.pl_decay)
        self.pl_mean.copy_(pl_mean)
        penalty = (lengths - pl_mean).square().mean()
        (penalty * self.pl_weight * gain).backward()
        return {"pl_penalty": penalty.detach()}

    def d_main(
        self, real: torch.Tensor, real_c: torch.Tensor, z: torch.Tensor, c: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """D's adversarial step; returns the real logits too, which the ADA heuristic reads."""
        with torch.no_grad():
            fake, _ = self.generate(z, c, update_emas=True)
        fake_logits = self.discriminate(fake, c)
        real_logits = self.discriminate(real, real_c)
        loss = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
        loss.backward()
        return {
            "loss_D": loss.detach(),
            "real_logit": real_logits.detach().mean(),
            "fake_logit_D": fake_logits.detach().mean(),
            "real_logits": real_logits.detach().flatten(),
        }

    def d_r1(
        self, real: torch.Tensor, real_c: torch.Tensor, gain: float
    ) -> dict[str, torch.Tensor]:
        """R1: squared gradient of D at the real images as D sees them (augmented), x gamma/2."""
        real = real.detach().requires_grad_(True)
        logits = self.discriminate(real, real_c, fp32=True)
        (grads,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
        penalty = grads.square().sum(dim=[1, 2, 3]).mean()
        (penalty * (self.r1_gamma / 2) * gain).backward()
        return {"r1_penalty": penalty.detach()}
