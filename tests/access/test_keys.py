from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadsmith.access import keys
from leadsmith.access.service import extract_key
from leadsmith.errors import LeadsmithError


def test_generated_keys_are_well_formed_unique_and_hashed() -> None:
    made = [keys.generate_key() for _ in range(200)]
    assert len({k.key for k in made}) == 200
    for k in made:
        assert k.key.startswith("lsk_") and len(k.key) == keys.KEY_LEN
        assert keys.well_formed(k.key)
        assert k.hash == keys.hash_key(k.key) and k.key not in k.hash
        assert k.key.startswith(k.prefix)


def test_a_single_typo_breaks_the_checksum() -> None:
    key = keys.generate_key().key
    for i in range(4, len(key)):
        swapped = "A" if key[i] != "A" else "B"
        assert not keys.well_formed(key[:i] + swapped + key[i + 1 :])


def test_extract_key_accepts_bearer_and_bare() -> None:
    key = keys.generate_key().key
    assert extract_key(f"Bearer {key}") == key
    assert extract_key(f"bearer   {key} ") == key
    assert extract_key(key) == key


@given(st.text(max_size=100))
def test_extract_key_refuses_junk_with_401(header: str) -> None:
    with pytest.raises(LeadsmithError) as caught:
        extract_key(header)
    assert caught.value.status == 401
    assert caught.value.code in ("missing_api_key", "malformed_api_key")
