"""Monte Carlo of a period's won amount: each open deal won or not, independently, many times over.

Each trial draws every deal's outcome (a Bernoulli draw with its probability) and adds up the
amounts won. For large pipelines (more than ``EXACT_CELLS`` draws) the deals that shape the
distribution, those with the largest third moment ``amount³ p (1 - p) (p² + (1 - p)²)``, are still
drawn one by one; the sum of all the others is drawn from the normal distribution with its exact
mean and variance, but only when the Berry-Esseen bound (constant 0.56, Shevtsova 2010) proves
that this changes no probability of the total by more than the Monte Carlo sampling error itself
(``0.5 / sqrt(trials)``, the standard error of an estimated median). As many of the largest deals
as that proof needs are drawn one by one; when no number of them is enough, every deal is drawn.

The draws one by one are exact and cheap: a deal is won when a uniform ``U`` is below its
probability ``p``, and that comparison is decided at the first binary digit where ``U`` and ``p``
differ. The digits of ``U`` are random bits, 64 deals to a word, so ``STEPS`` words of random bits
decide 64 draws at once with four bitwise operations each; the few draws still tied after them
(one in ``2**STEPS``) are won with the probability left in ``p``'s remaining digits. The amounts won
in a trial are then added eight deals at a time, from a table of the 256 sums of each eight.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
Words = NDArray[np.uint64]

EXACT_CELLS = 40_000_000  # deal x trial draws simulated one by one before approximating
HEAVY_CELLS = 10_000_000  # draws at least kept for the heaviest deals when approximating the rest
BLOCK_CELLS = 2_000_000  # float32 draws per block of the benchmark's baseline
BLOCK_WORDS = 32_768  # words of 64 draws worked on at a time (256 KB: the processor's cache)
STEPS = 12  # binary digits of each probability compared word by word
BERRY_ESSEEN = 0.56
PERCENTILES = (10.0, 50.0, 90.0)


@dataclass(frozen=True)
class Simulation:
    """The simulated totals and how they were drawn."""

    totals: Floats
    seed: int
    exact_deals: int
    normal_deals: int
    error_bound: float  # most any probability of the total can be off by (0 when every deal is drawn)

    @property
    def method(self) -> str:
        """How the trials were drawn, in words."""
        if not self.normal_deals:
            return f"every deal drawn in each of {self.totals.size:,} trials"
        return (
            f"the {self.exact_deals:,} largest deals drawn in each of {self.totals.size:,} trials; "
            f"the sum of the other {self.normal_deals:,} drawn from its normal distribution "
            f"(changes no probability by more than {self.error_bound:.4f})"
        )

    def percentiles(self) -> tuple[float, float, float]:
        """P10, P50 and P90 of the totals."""
        p10, p50, p90 = np.percentile(self.totals, PERCENTILES)
        return float(p10), float(p50), float(p90)


def probability_bits(probabilities: Floats, words: int) -> tuple[Words, Floats]:
    """The first ``STEPS`` binary digits of each probability as words (row ``k``: digit ``k + 1``,
    bit ``j`` of word ``c`` for deal ``64 c + j``; deals past the last count as probability 0), and
    what is left of each probability after them, scaled to ``[0, 1)``."""
    padded = np.zeros(words * 64)
    padded[: probabilities.size] = probabilities
    scaled = padded * 2.0**STEPS  # exact: a power of two
    head = np.floor(scaled)
    digits = (head.astype(np.int64)[None, :] >> np.arange(STEPS - 1, -1, -1)[:, None]) & 1
    packed = np.packbits(digits.astype(np.uint8), axis=1, bitorder="little")
    return packed.view("<u8").astype(np.uint64), scaled - head


def won_bits(probabilities: Floats, trials: int, rng: np.random.Generator) -> Words:
    """Each deal's outcome in each trial as bits (``trials`` rows of words, bit ``j`` of word ``c``
    for deal ``64 c + j``), each set with exactly its deal's probability, independently."""
    words = max(1, -(-probabilities.size // 64))
    digits, rest = probability_bits(probabilities, words)
    won = np.zeros((trials, words), dtype=np.uint64)
    tied = np.full((trials, words), np.uint64(2**64 - 1))
    rows = max(1, BLOCK_WORDS // words)
    for first in range(0, trials, rows):
        block_won, block_tied = won[first : first + rows], tied[first : first + rows]
        for digit in digits:
            drawn = rng.bit_generator.random_raw(block_won.size).reshape(block_won.shape)
            np.bitwise_xor(drawn, digit, out=drawn)  # where U's digit differs from p's
            np.bitwise_and(drawn, block_tied, out=drawn)  # ... for the first time: decided here
            block_won |= drawn & digit  # U's digit 0 where p's is 1: U < p
            block_tied ^= drawn
    row, word = np.nonzero(tied)
    if row.size:  # U and p agree on the first STEPS digits: won with the probability left
        bits = np.unpackbits(tied[row, word].astype("<u8").view(np.uint8), bitorder="little").reshape(-1, 64)
        which, bit = np.nonzero(bits)
        deal = word[which] * 64 + bit
        hit = rng.random(deal.size) < rest[deal]
        np.bitwise_or.at(won, (row[which][hit], word[which][hit]), np.uint64(1) << bit[hit].astype(np.uint64))
    return won


def amounts_won(won: Words, amounts: Floats) -> Floats:
    """Per trial (row of ``won``), the sum of the amounts of the deals whose bit is set."""
    chunks = won.shape[1] * 8
    padded = np.zeros(chunks * 8)
    padded[: amounts.size] = amounts
    subsets = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little")
    table = (padded.reshape(chunks, 8) @ subsets.T.astype(float)).ravel()  # chunk j's 256 sums at 256 j
    offsets = np.arange(chunks, dtype=np.intp) * 256
    totals = np.empty(won.shape[0])
    rows = max(1, BLOCK_WORDS // won.shape[1])
    for first in range(0, won.shape[0], rows):
        octets = won[first : first + rows].astype("<u8", copy=False).view(np.uint8)
        totals[first : first + rows] = table[octets + offsets].sum(axis=1)
    return totals


def draw_exact(amounts: Floats, probabilities: Floats, trials: int, rng: np.random.Generator) -> Floats:
    """Totals of ``trials`` trials, every deal drawn in each."""
    if amounts.size == 0:
        return np.zeros(trials)
    return amounts_won(won_bits(probabilities, trials, rng), amounts)


def split_heavy(amounts: Floats, probabilities: Floats, trials: int) -> tuple[Ints, int, float] | None:
    """Deals ordered heaviest first, how many to draw one by one, and the bound on the error of
    approximating the sum of the rest by a normal distribution; None when no split is good enough."""
    q = 1.0 - probabilities
    variance = amounts**2 * probabilities * q
    third = amounts**3 * probabilities * q * (probabilities**2 + q**2)
    order = np.argsort(-third, kind="stable").astype(np.int64)
    rest_variance = np.cumsum(variance[order][::-1])[::-1]
    rest_third = np.cumsum(third[order][::-1])[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        bounds = np.where(rest_variance > 0, BERRY_ESSEEN * rest_third / rest_variance**1.5, 0.0)
    good = np.flatnonzero(bounds <= 0.5 / np.sqrt(trials))
    if good.size == 0:
        return None
    count = max(int(good[0]), min(amounts.size, HEAVY_CELLS // trials))
    if count >= amounts.size:
        return None
    return order, count, float(bounds[count])


def simulate(
    amounts: Floats, probabilities: Floats, *, trials: int, seed: int | None = None, base: float = 0.0
) -> Simulation:
    """Simulate the total won: ``base`` plus each deal's amount when its draw is a win."""
    seed = secrets.randbits(32) if seed is None else seed
    rng = np.random.default_rng(seed)
    live = (amounts > 0) & (probabilities > 0)
    base += float(amounts[live & (probabilities >= 1)].sum())
    chosen = live & (probabilities < 1)
    amounts, probabilities = amounts[chosen], probabilities[chosen]
    split = split_heavy(amounts, probabilities, trials) if amounts.size * trials > EXACT_CELLS else None
    if split is None:
        totals = draw_exact(amounts, probabilities, trials, rng)
        return Simulation(totals + base, seed, int(amounts.size), 0, 0.0)
    order, count, bound = split
    heavy, light = order[:count], order[count:]
    totals = draw_exact(amounts[heavy], probabilities[heavy], trials, rng)
    mean = float(np.sum(amounts[light] * probabilities[light]))
    spread = float(np.sqrt(np.sum(amounts[light] ** 2 * probabilities[light] * (1 - probabilities[light]))))
    totals += rng.normal(mean, spread, trials)
    return Simulation(totals + base, seed, int(heavy.size), int(light.size), bound)
