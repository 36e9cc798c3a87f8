"""Vision-transformer inputs: images cut into patch tokens, prefix tokens, position tables.

    pixels (B, C, H, W) ─► conv(kernel = stride = patch) ─► (B, N, D) patch tokens, N = (H/p)·(W/p)
        ─► masked patches swapped for a learned mask token (masked image modelling)
        ─► [prefix tokens (CLS, distillation, ...), patches] (B, P + N, D)
        ─► + position table (1, P + N, D), resampled bicubically for another image size

The pieces are functions plus two modules whose attribute names are the usual checkpoint keys
(``patch_embeddings.projection``, ``cls_token``, ``distillation_token``, ``mask_token``,
``position_embeddings``), so a family whose checkpoints use those keys builds its embeddings as
:class:`PatchTokenEmbeddings`; one with other keys (``class_embedding``, ``patch_embedding``...)
calls :func:`interpolate_positions` and :func:`mask_patches` on its own parameters.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.nn import functional as F


def pair(value) -> tuple[int, int]:
    """An int or a pair (a config's ``image_size``, ``patch_size``) -> (height, width)."""
    return tuple(value) if isinstance(value, Iterable) else (value, value)


class PatchEmbeddings(nn.Module):
    """(B, C, H, W) -> (B, N, D): each ``patch_size`` patch through one linear map (a convolution whose
    kernel is the patch size), patches in row-major order. ``stride`` (an int or a pair; the patch size
    when None) below the patch size makes the patches overlap (the Audio Spectrogram Transformer's).

    ``image_size`` is the size the position table was trained for (``num_patches`` = its patch count);
    other sizes still embed (the caller decides whether their positions may be interpolated)."""

    def __init__(self, image_size, patch_size, num_channels: int, hidden_size: int, stride=None) -> None:
        super().__init__()
        self.image_size, self.patch_size = pair(image_size), pair(patch_size)
        self.stride = self.patch_size if stride is None else pair(stride)
        self.num_channels = num_channels
        # (size - patch) // stride + 1 patches per side: size // patch when the stride is the patch size
        self.grid = tuple((size - patch) // step + 1
                          for size, patch, step in zip(self.image_size, self.patch_size, self.stride))
        self.num_patches = self.grid[0] * self.grid[1]
        self.projection = nn.Conv2d(num_channels, hidden_size, kernel_size=self.patch_size, stride=self.stride)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if pixel_values.shape[1] != self.num_channels:
            raise ValueError(f"pixel_values have {pixel_values.shape[1]} channels, the config's num_channels is "
                             f"{self.num_channels}: convert the images (e.g. to RGB) or fix the config.")
        return self.projection(pixel_values.to(self.projection.weight.dtype)).flatten(2).transpose(1, 2)


def mask_patches(patches: torch.Tensor, bool_masked_pos: torch.Tensor | None, mask_token: torch.Tensor | None) -> torch.Tensor:
    """(B, N, D) patches with those where the (B, N) ``bool_masked_pos`` is true replaced by the learned
    ``mask_token`` ((1, 1, D) or (1, D)); written as a blend so gradients reach both."""
    if bool_masked_pos is None:
        return patches
    if mask_token is None:
        raise ValueError("bool_masked_pos was given but this model has no mask token: use the masked-image-modeling "
                         "head (or build the base model with use_mask_token=True).")
    mask = bool_masked_pos.unsqueeze(-1).type_as(patches)  # (B, N, 1)
    return patches * (1.0 - mask) + mask_token.expand_as(patches) * mask


def interpolate_positions(table: torch.Tensor, num_prefix: int, height: int, width: int, patch_size,
                          *, always: bool = False, upcast: bool = False) -> torch.Tensor:
    """A (1, P + n*n, D) position table trained on an n x n patch grid, for an image of ``height`` x ``width``
    pixels: the P prefix rows (CLS, distillation) unchanged, the grid resampled bicubically (corners not
    aligned, as DINO's original code) to (height // patch) x (width // patch).

    The table comes back unchanged when the grid already fits a square image (unless ``always``).
    ``upcast`` resamples in float32 (bicubic resampling in half precision shifts the values; DINOv2 does
    this, ViT resamples in the table's own dtype)."""
    patch_h, patch_w = pair(patch_size)
    rows, cols = height // patch_h, width // patch_w
    trained = table.shape[1] - num_prefix
    if not always and rows * cols == trained and height == width:
        return table
    side = int(trained**0.5)
    prefix, grid = table[:, :num_prefix], table[:, num_prefix:]
    dim = table.shape[-1]
    grid = grid.reshape(1, side, side, dim).permute(0, 3, 1, 2)  # (1, D, n, n)
    dtype = grid.dtype
    grid = F.interpolate(grid.float() if upcast else grid, size=(rows, cols), mode="bicubic", align_corners=False)
    grid = grid.to(dtype).permute(0, 2, 3, 1).reshape(1, rows * cols, dim)
    return torch.cat((prefix, grid), dim=1)


class PatchTokenEmbeddings(nn.Module):
    """Patch tokens behind learned prefix tokens, plus a learned position table:

        [t_1 .. t_P, patch_1 .. patch_N] + position_embeddings   (B, P + N, D)

    ``prefix`` names the prefix tokens' parameters in order (``("cls_token",)``, or
    ``("cls_token", "distillation_token")``), each (1, 1, D). ``mask_token_shape`` is (1, 1, D) or (1, D)
    as a family's checkpoints store it, or None (no masked image modelling). ``always_interpolate``: the
    positions are resampled whenever the image size asks for it (DINOv2); otherwise only with
    ``interpolate_pos_encoding=True`` and another image size is an error (ViT). ``upcast_interpolation``:
    see :func:`interpolate_positions`. ``stride``: see :class:`PatchEmbeddings`."""

    def __init__(self, image_size, patch_size, num_channels: int, hidden_size: int, *, dropout: float = 0.0,
                 prefix: tuple[str, ...] = ("cls_token",), mask_token_shape: tuple[int, ...] | None = None,
                 always_interpolate: bool = False, upcast_interpolation: bool = False, stride=None) -> None:
        super().__init__()
        self.prefix = prefix
        for name in prefix:
            setattr(self, name, nn.Parameter(torch.zeros(1, 1, hidden_size)))
        self.mask_token = nn.Parameter(torch.zeros(*mask_token_shape)) if mask_token_shape else None
        self.patch_embeddings = PatchEmbeddings(image_size, patch_size, num_channels, hidden_size, stride)
        self.position_embeddings = nn.Parameter(torch.zeros(1, self.patch_embeddings.num_patches + len(prefix), hidden_size))
        self.dropout = nn.Dropout(dropout)
        self.always_interpolate, self.upcast_interpolation = always_interpolate, upcast_interpolation

    def positions(self, height: int, width: int, interpolate: bool) -> torch.Tensor:
        """The (1, P + N, D) table for an image of ``height`` x ``width`` pixels."""
        patches = self.patch_embeddings
        if not (interpolate or self.always_interpolate):
            if (height, width) != patches.image_size:
                raise ValueError(f"The image is {height}x{width} pixels, the model's positions are for "
                                 f"{patches.image_size[0]}x{patches.image_size[1]}: resize the image (the image "
                                 f"processor does) or pass interpolate_pos_encoding=True.")
            return self.position_embeddings
        return interpolate_positions(self.position_embeddings, len(self.prefix), height, width, patches.patch_size,
                                     upcast=self.upcast_interpolation)

    def forward(self, pixel_values: torch.Tensor, bool_masked_pos: torch.Tensor | None = None,
                interpolate_pos_encoding: bool = False) -> torch.Tensor:
        height, width = pixel_values.shape[-2:]
        patches = mask_patches(self.patch_embeddings(pixel_values), bool_masked_pos, self.mask_token)  # (B, N, D)
        batch = patches.shape[0]
        tokens = [getattr(self, name).expand(batch, -1, -1) for name in self.prefix]
        embeddings = torch.cat((*tokens, patches), dim=1)  # (B, P + N, D)
        return self.dropout(embeddings + self.positions(height, width, bool(interpolate_pos_encoding)))


def masked_pixel_loss(pixel_values: torch.Tensor, reconstruction: torch.Tensor, bool_masked_pos: torch.Tensor,
                      config) -> torch.Tensor:
    """Masked image modelling's loss: the mean L1 error of the (B, C, H, W) ``reconstruction`` over the pixels
    of the patches the (B, N) ``bool_masked_pos`` masks (per channel), N the patch grid of ``config.image_size``."""
    size, patch = config.image_size // config.patch_size, config.patch_size
    mask = bool_masked_pos.reshape(-1, size, size).repeat_interleave(patch, 1).repeat_interleave(patch, 2)
    mask = mask.unsqueeze(1).to(reconstruction.dtype)  # (B, 1, H, W)
    error = F.l1_loss(pixel_values.to(reconstruction.dtype), reconstruction, reduction="none")
    return (error * mask).sum() / (mask.sum() + 1e-5) / config.num_channels
