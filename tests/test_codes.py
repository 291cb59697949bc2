"""S7 (pure part): backup codes are 80-bit, normalised, and only ever hashed with a key."""

from __future__ import annotations

import math
import re

import pytest

from app.two_factor import codes


def test_codes_carry_at_least_64_bits() -> None:
    assert codes.LENGTH * math.log2(len(codes.ALPHABET)) >= 64


def test_ten_distinct_codes_in_groups_of_four() -> None:
    issued = codes.new_codes()
    assert len(issued) == 10 == len(set(issued))
    assert all(re.fullmatch(r"([0-9A-HJKMNP-TV-Z]{4}-){3}[0-9A-HJKMNP-TV-Z]{4}", code) for code in issued)


@pytest.mark.parametrize(
    "typed", ["abcd-efgh-jkmn-pqrs", "ABCD EFGH JKMN PQRS", "abcdefghjkmnpqrs", " ABCD-EFGH-JKMN-PQRS "]
)
def test_input_is_case_insensitive_and_ignores_spaces_and_hyphens(typed: str) -> None:
    assert codes.normalize(typed) == "ABCDEFGHJKMNPQRS"


def test_confusable_letters_read_as_digits() -> None:
    assert codes.normalize("O0IL-0000-0000-0000") == "0011000000000000"


@pytest.mark.parametrize(
    "raw", ["", "ABCD-EFGH-JKMN-PQR", "ABCD-EFGH-JKMN-PQRSX", "ABCD-EFGH-JKMN-PQR!", "ÄBCD-EFGH-JKMN-PQRS"]
)
def test_malformed_codes_are_rejected(raw: str) -> None:
    assert codes.normalize(raw) is None


def test_keyed_hash_depends_on_the_key() -> None:
    value = "ABCDEFGHJKMNPQRS"
    assert codes.keyed_hash(b"k" * 32, value) != codes.keyed_hash(b"j" * 32, value)
    assert len(codes.keyed_hash(b"k" * 32, value)) == 64
