from __future__ import annotations

from itertools import count
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.domain.checklist import ChecklistGroup, ChecklistLeaf, evaluate, leaves
from bot.policy.loader import load_default_policy

SEED_CHECKLIST = load_default_policy().checklist
ALL_TICKED = {entry.leaf.key for entry in leaves(SEED_CHECKLIST)}


def test_everything_ticked_qualifies() -> None:
    verdict = evaluate(SEED_CHECKLIST, ALL_TICKED)
    assert verdict.qualifies
    assert verdict.failures == ()
    assert verdict.holds("severe")
    assert verdict.results["incident"].holding == 4


def test_one_sub_item_of_an_any_group_is_enough() -> None:
    ticked = ALL_TICKED - {"cannot_view_assets", "cannot_access_assets", "system_downtime"}
    assert evaluate(SEED_CHECKLIST, ticked).qualifies


def test_failures_are_explained_in_plain_words() -> None:
    severe = {"cannot_view_assets", "cannot_access_assets", "system_downtime", "feature_downtime"}
    verdict = evaluate(SEED_CHECKLIST, ALL_TICKED - severe - {"no_workaround", "production"})
    assert not verdict.qualifies
    assert [str(failure) for failure in verdict.failures] == [
        "1. The situation impacts the live production environment: not ticked",
        "3. Severe or high-risk: none of its 4 sub-items holds (needs any)",
        "4. Urgent: 1 of its 3 sub-items is not ticked (needs all): "
        "No straightforward workaround is possible",
    ]
    assert verdict.failures[2].missing == ("no_workaround",)
    assert verdict.results["urgent"].holding == 2


def test_answers_may_be_a_mapping_of_leaf_to_ticked() -> None:
    answers = dict.fromkeys(ALL_TICKED, True) | {"ongoing": False}
    verdict = evaluate(SEED_CHECKLIST, answers)
    assert [failure.key for failure in verdict.failures] == ["urgent"]


def test_nested_groups_that_do_not_hold_are_named() -> None:
    tree = ChecklistGroup.model_validate(
        {
            "key": "root",
            "label": "Root",
            "items": [
                {
                    "key": "outer",
                    "label": "Outer",
                    "items": [
                        {
                            "key": "inner",
                            "label": "Inner",
                            "mode": "any",
                            "items": [{"key": "x", "label": "X"}],
                        },
                        {"key": "y", "label": "Y"},
                        {"key": "z", "label": "Z"},
                    ],
                }
            ],
        }
    )
    [failure] = evaluate(tree, {"z"}).failures
    assert str(failure) == "1. Outer: 2 of its 3 sub-items do not hold (needs all): Inner; Y"


def test_unknown_or_group_answers_are_refused() -> None:
    with pytest.raises(ValueError, match="not leaves of checklist 'incident': nope, severe"):
        evaluate(SEED_CHECKLIST, {"nope", "severe"})


def test_leaves_in_display_order_with_their_groups() -> None:
    entries = leaves(SEED_CHECKLIST)
    assert [(e.number, e.leaf.key) for e in entries] == [
        ("1", "production"),
        ("2", "user_access"),
        ("3.1", "cannot_view_assets"),
        ("3.2", "cannot_access_assets"),
        ("3.3", "system_downtime"),
        ("3.4", "feature_downtime"),
        ("4.1", "ongoing"),
        ("4.2", "no_workaround"),
        ("4.3", "cannot_wait"),
    ]
    assert [g.label for g in entries[2].groups] == ["Severe or high-risk"]
    assert entries[0].groups == ()


def test_keys_must_be_unique_across_the_tree() -> None:
    with pytest.raises(ValidationError, match="key 'a' is used twice; first at items.0"):
        ChecklistGroup.model_validate(
            {
                "key": "r",
                "label": "R",
                "items": [
                    {"key": "a", "label": "A"},
                    {"key": "g", "label": "G", "items": [{"key": "a", "label": "again"}]},
                ],
            }
        )


def test_a_group_needs_items() -> None:
    with pytest.raises(ValidationError, match="at least one item"):
        ChecklistGroup.model_validate({"key": "r", "label": "R", "items": []})


# --- property: evaluation agrees with a plain reference evaluation ------------------------


def _trees() -> st.SearchStrategy[dict[str, Any]]:
    leaf = st.builds(lambda: {"label": "leaf"})
    return st.recursive(
        leaf,
        lambda children: st.builds(
            lambda mode, items: {"label": "group", "mode": mode, "items": items},
            st.sampled_from(["all", "any"]),
            st.lists(children, min_size=1, max_size=4),
        ),
        max_leaves=20,
    ).map(lambda node: node if "items" in node else {"label": "g", "mode": "all", "items": [node]})


def _with_keys(node: dict[str, Any], counter: count[int]) -> dict[str, Any]:
    keyed = {**node, "key": f"n{next(counter)}"}
    if "items" in node:
        keyed["items"] = [_with_keys(item, counter) for item in node["items"]]
    return keyed


def _reference(node: dict[str, Any], ticked: set[str], out: dict[str, bool]) -> bool:
    if "items" not in node:
        out[node["key"]] = node["key"] in ticked
    else:
        values = [_reference(item, ticked, out) for item in node["items"]]
        out[node["key"]] = all(values) if node["mode"] == "all" else any(values)
    return out[node["key"]]


def _leaf_keys(node: dict[str, Any]) -> list[str]:
    if "items" not in node:
        return [node["key"]]
    return [key for item in node["items"] for key in _leaf_keys(item)]


@given(data=st.data(), raw=_trees())
def test_evaluation_matches_a_reference(data, raw):
    raw = _with_keys(raw, count())
    tree = ChecklistGroup.model_validate(raw)
    leaf_keys = _leaf_keys(raw)
    ticked = data.draw(st.sets(st.sampled_from(leaf_keys)))

    expected: dict[str, bool] = {}
    qualifies = _reference(raw, ticked, expected)
    verdict = evaluate(tree, ticked)

    assert verdict.qualifies == qualifies
    assert {key: result.holds for key, result in verdict.results.items()} == expected
    assert [entry.leaf.key for entry in leaves(tree)] == leaf_keys
    assert all(isinstance(entry.leaf, ChecklistLeaf) for entry in leaves(tree))
    failing_top = [item["key"] for item in raw["items"] if not expected[item["key"]]]
    assert [failure.key for failure in verdict.failures] == ([] if qualifies else failing_top)
    for failure in verdict.failures:
        assert str(failure).startswith(f"{failure.number}. ")
