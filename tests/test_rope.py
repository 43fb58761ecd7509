"""2D RoPE against a float64 reference written from the brief's formula."""

import math

import pytest
import torch

from muskie.model.layers.rope import apply_rope, apply_rope_swapped, rope_tables, rotation_signs, token_positions


def reference_rope(x, positions, base=100.0):
    """x (T, D) float64; positions (T, 2). First half rotated by the row, second by the column; within a
    half of size D', frequencies base^(-2j/D'), angles concatenated with themselves, rotate-half."""
    t, d = x.shape
    half = d // 2
    out = torch.empty_like(x)
    for i in range(t):
        for h, pos in enumerate(positions[i].tolist()):
            part = x[i, h * half : (h + 1) * half]
            freqs = [base ** (-2 * j / half) for j in range(half // 2)]
            angles = torch.tensor([pos * f for f in freqs] * 2, dtype=torch.float64)
            x1, x2 = part[: half // 2], part[half // 2 :]
            rotated = torch.cat([-x2, x1])
            out[i, h * half : (h + 1) * half] = part * torch.cos(angles) + rotated * torch.sin(angles)
    return out


def test_token_positions_registers_at_origin_then_row_major_patches():
    positions = token_positions(2, 3, num_registers=4)
    expected = [[0, 0]] * 4 + [[1, 1], [1, 2], [1, 3], [2, 1], [2, 2], [2, 3]]
    assert positions.tolist() == expected
    assert positions.dtype == torch.int64


@pytest.mark.parametrize("head_dim", [4, 16, 32])
def test_rope_matches_float64_reference(head_dim):
    g = torch.Generator().manual_seed(0)
    positions = token_positions(5, 7, num_registers=2)
    x = torch.randn(3, positions.shape[0], head_dim, dtype=torch.float64, generator=g)  # (heads, T, D)
    cos, sin = rope_tables(positions, head_dim, 100.0, dtype=torch.float64)
    ours = apply_rope(x, cos, sin)
    for h in range(x.shape[0]):
        torch.testing.assert_close(ours[h], reference_rope(x[h], positions), rtol=1e-12, atol=1e-12)


def test_rope_float32_tables_are_accurate_at_large_positions():
    positions = token_positions(64, 64, num_registers=0)
    x = torch.randn(positions.shape[0], 32, dtype=torch.float64)
    cos, sin = rope_tables(positions, 32, 100.0)  # float32 tables
    assert cos.dtype == torch.float32
    ours = apply_rope(x.float(), cos, sin).double()
    assert (ours - reference_rope(x, positions)).abs().max() < 1e-5


def test_registers_are_not_rotated_and_norms_are_kept():
    positions = token_positions(3, 3, num_registers=4)
    x = torch.randn(positions.shape[0], 16, dtype=torch.float64)
    cos, sin = rope_tables(positions, 16, 100.0, dtype=torch.float64)
    rotated = apply_rope(x, cos, sin)
    torch.testing.assert_close(rotated[:4], x[:4])
    torch.testing.assert_close(rotated.norm(dim=-1), x.norm(dim=-1))
    assert not torch.allclose(rotated[4:], x[4:])


def test_scores_depend_only_on_relative_position():
    g = torch.Generator().manual_seed(3)
    q, k = torch.randn(2, 1, 16, dtype=torch.float64, generator=g)

    def score(q_pos, k_pos):
        positions = torch.tensor([q_pos, k_pos])
        cos, sin = rope_tables(positions, 16, 100.0, dtype=torch.float64)
        return (apply_rope(q, cos[:1], sin[:1]) * apply_rope(k, cos[1:], sin[1:])).sum().item()

    assert math.isclose(score((2, 5), (4, 1)), score((7, 9), (9, 5)), rel_tol=1e-10)
    assert not math.isclose(score((2, 5), (4, 1)), score((2, 5), (1, 4)), rel_tol=1e-3)


def test_head_width_must_be_a_multiple_of_four():
    with pytest.raises(ValueError, match="divisible by 4"):
        rope_tables(token_positions(2, 2, 0), 6, 100.0)


def test_rotation_signs_negate_the_first_part_of_each_half():
    assert rotation_signs(8).tolist() == [-1, -1, 1, 1, -1, -1, 1, 1]


@pytest.mark.parametrize("head_dim", [4, 32])
def test_swapped_rope_matches_float64_reference(head_dim):
    g = torch.Generator().manual_seed(1)
    positions = token_positions(4, 6, num_registers=3)
    x = torch.randn(2, 3, positions.shape[0], head_dim, dtype=torch.float64, generator=g)  # (q/k, heads, T, D)
    cos, sin = rope_tables(positions, head_dim, 100.0, dtype=torch.float64)
    ours = apply_rope_swapped(x, cos, sin * rotation_signs(head_dim, torch.float64))
    for which in range(2):
        for h in range(3):
            torch.testing.assert_close(ours[which, h], reference_rope(x[which, h], positions), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_swapped_rope_gives_exactly_the_numbers_of_apply_rope(dtype):
    """The same products and sums as apply_rope, bit for bit, on queries and keys stacked in one
    non-contiguous tensor (as the attention layer passes them), and the same gradients."""
    g = torch.Generator().manual_seed(2)
    positions = token_positions(5, 5, num_registers=4)
    qkv = torch.randn(3, 2, 4, positions.shape[0], 16, generator=g).to(dtype).permute(0, 1, 3, 2, 4)  # not contiguous
    qkv = qkv.transpose(2, 3).requires_grad_()
    cos, sin = rope_tables(positions, 16, 100.0, dtype=dtype)
    together = apply_rope_swapped(qkv[:2], cos, sin * rotation_signs(16, dtype))
    one_by_one = torch.stack([apply_rope(qkv[0], cos, sin), apply_rope(qkv[1], cos, sin)])
    assert torch.equal(together, one_by_one)
    weights = torch.randn(together.shape, generator=g).to(dtype)
    (grad_together,) = torch.autograd.grad((together * weights).sum(), qkv)
    (grad_one_by_one,) = torch.autograd.grad((one_by_one * weights).sum(), qkv)
    assert torch.equal(grad_together, grad_one_by_one)
