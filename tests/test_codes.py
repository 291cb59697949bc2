"""S7 (pure part): 120-bit codes, older 80-bit codes still read, ASCII-only normalisation, keyed hashes."""

from __future__ import annotations

import hashlib
import hmac
import math
import re

import pytest

from app.two_factor import codes

GROUP = "[0-9A-HJKMNP-TV-Z]{4}"


def test_new_codes_carry_at_least_112_bits() -> None:
    assert codes.LENGTH * math.log2(len(codes.ALPHABET)) >= 112
    assert all(len(codes.normalize(code) or "") * 5 >= 112 for code in codes.new_codes())


def test_ten_distinct_codes_in_six_groups_of_four() -> None:
    issued = codes.new_codes()
    assert len(issued) == 10 == len(set(issued))
    assert all(re.fullmatch(rf"({GROUP}-){{5}}{GROUP}", code) for code in issued)


@pytest.mark.parametrize(
    "typed",
    [
        "abcd-efgh-jkmn-pqrs-tvwx-yz01",
        "ABCD EFGH JKMN PQRS TVWX YZ01",
        "abcdefghjkmnpqrstvwxyz01",
        " ABCD-EFGH-JKMN-PQRS-TVWX-YZ01 ",
    ],
)
def test_input_is_case_insensitive_and_ignores_spaces_and_hyphens(typed: str) -> None:
    assert codes.normalize(typed) == "ABCDEFGHJKMNPQRSTVWXYZ01"


@pytest.mark.parametrize("typed", ["abcd-efgh-jkmn-pqrs", "ABCD EFGH JKMN PQRS", "abcdefghjkmnpqrs"])
def test_older_80_bit_codes_are_still_read(typed: str) -> None:
    assert codes.normalize(typed) == "ABCDEFGHJKMNPQRS"


def test_confusable_letters_read_as_digits() -> None:
    assert codes.normalize("O0IL-0000-0000-0000-0000-0000") == "001100000000000000000000"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ABCD-EFGH-JKMN-PQR",
        "ABCD-EFGH-JKMN-PQRSX",
        "ABCD-EFGH-JKMN-PQRS-TVWX-YZ0",
        "ABCD-EFGH-JKMN-PQRS-TVWX-YZ012",
        "ABCD-EFGH-JKMN-PQR!",
        "ÄBCD-EFGH-JKMN-PQRS",
        "ABCD\tEFGH-JKMN-PQRS",
    ],
)
def test_malformed_codes_are_rejected(raw: str) -> None:
    assert codes.normalize(raw) is None


@pytest.mark.parametrize(
    "lookalike",
    [
        "ſABC-DEFG-HJKM-NPQR-STVW-XYZ0",  # U+017F LATIN SMALL LETTER LONG S: "ſ".upper() == "S"
        "ABCD-EFGH-JKMN-PQRS-TVWX-YZ0ı",  # U+0131 DOTLESS I: "ı".upper() == "I"
        "ﬀBCD-EFGH-JKMN-PQRS-TVWX-YZ01",  # U+FB00 LATIN SMALL LIGATURE FF: upper() is "FF"
        "ＡBCD-EFGH-JKMN-PQRS-TVWX-YZ01",  # U+FF21 FULLWIDTH A
        "ABCD-EFGH-JKMN-PQRS-TVWX-YZ0١",  # U+0661 ARABIC-INDIC DIGIT ONE
        "ſABC-DEFG-HJKM-NPQR",  # the same trick on an older code
    ],
)
def test_only_ascii_letters_and_digits_are_read(lookalike: str) -> None:
    assert codes.normalize(lookalike) is None


def test_keyed_hash_is_hmac_sha256_under_the_key() -> None:
    value = "ABCDEFGHJKMNPQRSTVWXYZ01"
    key = b"k" * 32
    assert codes.keyed_hash(key, value) == hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
    assert codes.keyed_hash(key, value) != codes.keyed_hash(b"j" * 32, value)
    assert codes.keyed_hash(key, value) != hashlib.sha256(value.encode()).hexdigest()
