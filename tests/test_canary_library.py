"""The shipped canary library: every entry renders, validation passes, and broken entries are named."""

from __future__ import annotations

import random
import shutil
from collections import Counter

import pytest

from reviewq.canaries.faults import check_fault
from reviewq.canaries.library import BUCKETS, LibraryError, check_shape, load_library, render_entry, rendered_fault
from reviewq.canaries.library import validate_library as validate
from reviewq.canaries.render import make_faker
from reviewq.cli import main
from reviewq.config import PROJECT_ROOT

LIBRARY = PROJECT_ROOT / "canaries"


def test_shipped_library_validates_and_meets_the_size_rules():
    """validate passes; >=10 entries per bucket over >=4 categories, both kinds, >=20 controls."""
    lib = validate(LIBRARY)
    for bucket in BUCKETS:
        entries = [e for e in lib.canaries if e.bucket == bucket]
        assert len(entries) >= 10
        assert len({e.category for e in entries}) >= 4
        assert {e.kind for e in entries} == {"output", "approval"}
    assert len(lib.controls) >= 20
    assert len({e.id for e in lib.entries}) == len(lib.entries)


@pytest.mark.parametrize("entry", load_library(LIBRARY).entries, ids=lambda e: e.id)
def test_every_entry_renders_with_its_fault_and_never_alike(entry):
    """Each entry renders to a real-traffic shape, carries its fault, and two renderings differ."""
    a = render_entry(entry, make_faker(random.Random(11)))
    b = render_entry(entry, make_faker(random.Random(12)))
    assert check_shape(entry.kind, a.payload) is None
    assert "{" not in a.explanation or "}" not in a.explanation
    assert a.payload != b.payload
    payload, fault = rendered_fault(entry, make_faker(random.Random(13)))
    if fault is not None:
        assert check_fault(fault, payload) is None


def test_categories_come_from_the_real_agents():
    """Library items use the agent names real traffic of that category comes from."""
    agents = Counter((e.category, e.agent) for e in load_library(LIBRARY).entries)
    assert {agent for _, agent in agents} <= {"support-bot", "billing-agent", "search-agent", "ops-agent"}


def _broken_copy(tmp_path, old, new, file="hallucinated_fact.toml"):
    folder = tmp_path / "lib"
    shutil.copytree(LIBRARY, folder)
    path = folder / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return folder


def test_fault_missing_from_output_is_caught_with_file_and_entry(tmp_path, capsys):
    """An entry whose output no longer contains its fault fails validate, which names file and entry."""
    folder = _broken_copy(
        tmp_path,
        'output = "Sorry about that, {name}! I\'ve started a full refund of ${wrong}',
        'output = "Sorry about that, {name}! I\'ve started a full refund of ${paid}',
    )
    with pytest.raises(LibraryError, match=r"hallucinated_fact\.toml: entry 'hf-support-refund-amount'"):
        validate(folder)
    assert main(["canaries", "validate", "--library", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "hallucinated_fact.toml" in err and "hf-support-refund-amount" in err


def test_the_per_thread_faker_renders_as_a_new_one_with_the_same_seed():
    """make_faker reuses one Faker per thread: each entry renders exactly as with a new Faker."""
    from faker import Faker

    for entry in load_library(LIBRARY).entries:
        fresh = Faker()
        fresh.seed_instance(random.Random(5).getrandbits(64))
        assert render_entry(entry, make_faker(random.Random(5))).payload == render_entry(entry, fresh).payload


def test_a_template_cannot_reconfigure_the_shared_faker(tmp_path):
    """set_formatter would change the Faker every later rendering in the thread uses."""
    folder = _broken_copy(tmp_path, 'input = "Where is my package? Order {order}."',
                          'input = "Where is my package? Order {set_formatter:name:x}."')
    with pytest.raises(LibraryError, match=r"set_formatter.*not allowed"):
        validate(folder)


def test_unknown_placeholder_is_caught(tmp_path):
    """A placeholder that is neither a variable nor a Faker method is reported."""
    folder = _broken_copy(tmp_path, 'input = "Where is my package? Order {order}."',
                          'input = "Where is my package? Order {ordr_number}."')
    with pytest.raises(LibraryError, match=r"hf-support-tracking-carrier.*ordr_number"):
        validate(folder)


def test_duplicate_id_is_caught(tmp_path):
    """Two entries with one id are refused."""
    folder = _broken_copy(tmp_path, 'id = "hf-search-population"', 'id = "hf-search-author-year"')
    with pytest.raises(LibraryError, match="duplicate id"):
        validate(folder)


def test_payload_shape_differing_from_real_traffic_is_caught(tmp_path):
    """An extra payload key (a tell) is refused."""
    folder = _broken_copy(
        tmp_path,
        'input = "Summarise invoice {invoice} for {company}."',
        'input = "Summarise invoice {invoice} for {company}."\nis_test = true',
    )
    with pytest.raises(LibraryError, match="hf-billing-invoice-total.*output payload"):
        validate(folder)


def test_cli_validate_passes_on_the_shipped_library(capsys):
    """`reviewq canaries validate` exits 0 on the shipped library."""
    assert main(["canaries", "validate", "--library", str(LIBRARY)]) == 0
    assert "all valid" in capsys.readouterr().out
