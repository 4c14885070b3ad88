"""Teacher and student at two input resolutions: one pair of crops, two views of it.

A student trained at a lower input resolution (``DistillConfig.student_search_size``,
``models.with_search_size``) searches the teacher's area with fewer pixels: its search crop is
the teacher's, resized; its template crop shows ``teacher.zoom / student.zoom`` times the
teacher's template side in ``exemplar_size`` pixels. The sampler cuts each template that much
wider (``PairSampler(template_context=...)``), so the teacher's template is its exact central
``exemplar_size`` pixels and the student's is all of it, resized. Every map the losses compare
is then brought onto one grid:

- responses: the teacher's class logits and boxes are sampled (bilinearly) at the student's
  score-map points, its boxes converted to the student's crop pixels;
- features: the student's (adapted) feature maps are sampled at the positions of the
  teacher's feature cells (the same image area for search crops, the central part of the
  student's wider template for template crops).

A student with another score map at the teacher's resolution (NanoTrack v3's 15 x 15 under
v2's 16 x 16) gets the teacher's responses resampled the same way; its crops and features pass
through unchanged. With equal geometry every method returns its input unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..config import ModelConfig
from ..errors import ConfigError
from ..training.data import template_size
from ..training.losses import score_points

__all__ = ["StudentView"]


@dataclass(frozen=True)
class StudentView:
    """How the student's crops, labels and maps relate to the teacher's."""

    teacher: ModelConfig
    student: ModelConfig

    @classmethod
    def of(cls, teacher: ModelConfig, student: ModelConfig) -> StudentView:
        """The view, after checking that the student searches the teacher's area with the
        same stride and template pixels at no more than the teacher's resolution."""
        for key in ("exemplar_size", "stride"):
            if getattr(student, key) != getattr(teacher, key):
                raise ConfigError(f"student and teacher differ in {key}; distillation needs "
                                  f"the same {key} (set student_search_size to lower the "
                                  "student's resolution instead)")
        area_t = teacher.instance_size / teacher.zoom
        area_s = student.instance_size / student.zoom
        if abs(area_s - area_t) > 1e-6 * area_t:
            raise ConfigError(f"the student searches {area_s:.1f} zoom-1 pixels, the teacher "
                              f"{area_t:.1f}; a lower-resolution student must search the "
                              "teacher's area (models.with_search_size)")
        if student.zoom > teacher.zoom:
            raise ConfigError(f"the student's resolution (zoom {student.zoom:.3f}) is above "
                              f"the teacher's ({teacher.zoom:.3f}); make the higher-resolution "
                              "network the teacher")
        return cls(teacher, student)

    # ------------------------------------------------------------------ geometry
    @property
    def same_crops(self) -> bool:
        """The student sees the teacher's crops at the teacher's resolution (its score map may
        still differ: ``same``)."""
        return self.student.instance_size == self.teacher.instance_size

    @property
    def same(self) -> bool:
        """One geometry: the student's crops and score map are the teacher's."""
        return self.same_crops and self.student.score_size == self.teacher.score_size

    @property
    def template_context(self) -> float:
        """Side of the student's template over the teacher's (>= 1)."""
        return self.teacher.zoom / self.student.zoom

    @property
    def template_out(self) -> int:
        """Pixels of the sampler's (wide) template crops."""
        return template_size(self.teacher, self.template_context)

    @property
    def search_ratio(self) -> float:
        """Student search-crop pixels per teacher search-crop pixel."""
        return self.student.instance_size / self.teacher.instance_size

    # ------------------------------------------------------------------ crops and labels
    def teacher_crops(self, z: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor,
                                                                       torch.Tensor]:
        """The teacher's template (the central ``exemplar_size`` pixels) and search crops."""
        if self.same_crops:
            return z, x
        e = self.teacher.exemplar_size
        o = (z.shape[-1] - e) // 2
        return z[..., o:o + e, o:o + e], x

    def student_crops(self, z: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor,
                                                                       torch.Tensor]:
        """The student's template and search crops: the sampler's, resized bilinearly (as the
        runtime's crops sample the image, no anti-aliasing)."""
        if self.same_crops:
            return z, x
        e, i = self.student.exemplar_size, self.student.instance_size
        return (F.interpolate(z, size=(e, e), mode="bilinear", align_corners=False),
                F.interpolate(x, size=(i, i), mode="bilinear", align_corners=False))

    def box(self, box: torch.Tensor) -> torch.Tensor:
        """``x1, y1, x2, y2`` in teacher search pixels -> student search pixels (pixel ``i``
        covers ``[i - 0.5, i + 0.5)`` in both)."""
        if self.same_crops:
            return box
        return (box + 0.5) * self.search_ratio - 0.5

    # ------------------------------------------------------------------ maps
    def responses(self, cls: torch.Tensor, loc: torch.Tensor) -> tuple[torch.Tensor,
                                                                       torch.Tensor]:
        """Teacher class logits (B, 2, S, S) and ``l, t, r, b`` boxes (B, 4, S, S) on the
        student's score map: sampled at each student point, boxes as student distances."""
        if self.same:
            return cls, loc
        t, s = self.teacher, self.student
        ps = score_points(s, cls.device)  # (Ss, Ss, 2) student crop px
        pt = (ps + 0.5) / self.search_ratio - 0.5  # the same image points, teacher crop px
        first = (t.instance_size - 1) / 2 - (t.score_size // 2) * t.stride
        cell = (pt - first) / t.stride  # fractional teacher cell index
        grid = (2 * cell / (t.score_size - 1) - 1).expand(len(cls), -1, -1, -1)
        s_cls = F.grid_sample(cls, grid, mode="bilinear", padding_mode="border",
                              align_corners=True)
        tp = score_points(t, cls.device).permute(2, 0, 1)[None]  # (1, 2, St, St)
        edges = torch.cat([tp - loc[:, :2], tp + loc[:, 2:]], 1)  # x1, y1, x2, y2, teacher px
        edges = F.grid_sample(edges, grid, mode="bilinear", padding_mode="border",
                              align_corners=True)
        edges = (edges + 0.5) * self.search_ratio - 0.5
        p = ps.permute(2, 0, 1)[None]
        return s_cls, torch.cat([p - edges[:, :2], edges[:, 2:] - p], 1)

    def features(self, feats: list[torch.Tensor], like: list[torch.Tensor],
                 template: bool) -> list[torch.Tensor]:
        """Student feature maps sampled at the cells of the teacher's maps ``like`` (same
        image area for search crops; for template crops the teacher's is the central
        ``exemplar_size / template_out`` of the student's)."""
        if self.same_crops and all(f.shape[-2:] == r.shape[-2:] for f, r in zip(feats, like)):
            return feats
        frac = self.teacher.exemplar_size / self.template_out if template else 1.0
        out = []
        for f, ref in zip(feats, like):
            h, w = ref.shape[-2:]
            ys = (torch.arange(h, device=f.device) + 0.5) / h * 2 - 1
            xs = (torch.arange(w, device=f.device) + 0.5) / w * 2 - 1
            gy, gx = torch.meshgrid(ys * frac, xs * frac, indexing="ij")
            grid = torch.stack([gx, gy], -1)[None].expand(len(f), -1, -1, -1)
            out.append(F.grid_sample(f, grid, mode="bilinear", padding_mode="border",
                                     align_corners=False))
        return out
