"""Which customers count as "left" (backoffice.churn.labels, dataset, service, cli).

Guards the labelling of text, choice, yes/no and number targets: the admin names the value that
means "left", customers whose target is missing are left out and counted (never labelled), and
every other recorded value means "stayed". The end-to-end test imports a file whose 是/否 target
has blanks and checks the labels the model was given, row by row.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backoffice.churn import features as F
from backoffice.churn import labels
from backoffice.fields.registry import Choice, FieldSpec


def spec(key, field_type, choices=()):
    return FieldSpec(id=None, entity="customer", key=key, type=field_type, label_zh=key,
                     label_en=key, choices=tuple(choices))


def labelled(definition, values):
    y, keys = definition.labels(pd.Series(values, dtype=object))
    return [None if np.isnan(v) else int(v) for v in y], keys.tolist()


def test_a_missing_yes_no_value_is_never_read_as_yes():
    """pandas fills the gaps of a mapped 0/1 column with float NaN, and bool(nan) is True: a
    blank used to become "left". It is missing now, in features and in labels alike."""
    assert np.isnan(F._boolean(float("nan")))
    gappy = pd.Series([{"t": 1}, {}, {"t": 0}]).map(lambda d: d.get("t"))
    assert gappy.dtype == float  # the shape that produced the wrong label
    definition = labels.define("custom_fields.t", spec("t", "boolean"))
    assert labelled(definition, gappy.tolist())[0] == [1, None, 0]
    assert F.typed_values(gappy, "boolean").isna().tolist() == [False, True, False]


def test_text_target_with_the_value_meaning_left_and_blanks_left_out():
    definition = labels.define("custom_fields.flag", spec("flag", "text"), "Attrited Customer")
    y, keys = labelled(definition, ["Attrited Customer", "Existing Customer", None, "  ",
                                    "attrited customer ", float("nan"), "Unknown"])
    # Every other recorded value (here "Unknown") means stayed; case and spaces do not matter.
    assert y == [1, 0, None, None, 1, None, 0]
    assert keys[:3] == ["Attrited Customer", "Existing Customer", None]
    counts = labels.LabelCounts()
    counts.add(*definition.labels(pd.Series(["Attrited Customer", None, "Unknown"],
                                            dtype=object)))
    assert (counts.positive, counts.negative, counts.missing) == (1, 1, 1)
    assert counts.as_dict()["values"] == {"Attrited Customer": 1, "(missing)": 1, "Unknown": 1}


def test_yes_no_target_in_chinese_either_way():
    field = spec("churned", "boolean")
    yes = labels.define("custom_fields.churned", field, "是")
    assert labelled(yes, [True, False, None, "是", "否"])[0] == [1, 0, None, 1, 0]
    no = labels.define("custom_fields.churned", field, "否")  # a "retained" column
    assert labelled(no, [True, False, None])[0] == [0, 1, None]
    assert labels.define("custom_fields.churned", field).positive == ("true",)
    with pytest.raises(labels.LabelError, match="yes or no"):
        labels.define("custom_fields.churned", field, "maybe")


@pytest.mark.parametrize("given", ["A", "流失", "Attrited", " attrited "])
def test_a_choice_positive_is_given_as_its_value_or_its_label(given):
    field = spec("status_flag", "choice", [Choice("A", "流失", "Attrited"),
                                           Choice("B", "留存", "Existing")])
    definition = labels.define("custom_fields.status_flag", field, given)
    assert definition.positive == ("A",) and definition.given == given.strip()
    assert labelled(definition, ["A", "B", None])[0] == [1, 0, None]


def test_an_unknown_choice_is_refused_with_the_choices():
    field = spec("status_flag", "choice", [Choice("A", "流失", "Attrited"),
                                           Choice("B", "留存", "Existing")])
    with pytest.raises(labels.LabelError, match=r"none of its choices: A \(流失 / Attrited\)"):
        labels.define("custom_fields.status_flag", field, "Closed")


def test_number_targets_default_to_one_and_refuse_other_values_without_a_positive():
    field = spec("exited", "integer")
    implicit = labels.define("custom_fields.exited", field)
    assert labelled(implicit, [1, 0, "1.0", None, 1.0])[0] == [1, 0, 1, None, 1]
    counts = labels.LabelCounts()
    counts.add(*implicit.labels(pd.Series([0, 1, 2, 2], dtype=object)))
    with pytest.raises(labels.LabelError, match="values other than 0 and 1.*2: 2"):
        labels.check(implicit, counts)
    explicit = labels.define("custom_fields.exited", field, "2")
    assert labelled(explicit, [0, 1, 2, None])[0] == [0, 0, 1, None]
    with pytest.raises(labels.LabelError, match="must be a number"):
        labels.define("custom_fields.exited", field, "two")


def test_text_without_a_positive_needs_one_unless_the_values_are_yes_or_no():
    definition = labels.define("custom_fields.flag", spec("flag", "text"))
    counts = labels.LabelCounts()
    counts.add(*definition.labels(pd.Series(["Attrited Customer", "Existing Customer"],
                                            dtype=object)))
    with pytest.raises(labels.LabelError, match="--positive VALUE.*Attrited Customer: 1"):
        labels.check(definition, counts)
    yes_no = labels.LabelCounts()
    yes_no.add(*definition.labels(pd.Series(["是", "否", None], dtype=object)))
    labels.check(definition, yes_no)
    assert (yes_no.positive, yes_no.negative, yes_no.missing) == (1, 1, 1)


def test_a_positive_value_nobody_has_is_refused_with_the_values_found():
    definition = labels.define("custom_fields.flag", spec("flag", "text"), "Attrited")
    counts = labels.LabelCounts()
    counts.add(*definition.labels(pd.Series(["Attrited Customer", "Existing Customer", None],
                                            dtype=object)))
    with pytest.raises(labels.LabelError, match="no customer has the value 'Attrited'"):
        labels.check(definition, counts)


def test_a_refusal_is_kept_as_a_message_id_read_in_each_language(app):
    """A refusal is a lazy translation: a job keeps it as its message id (with the values found
    as they are) and each reader reads it in their own language."""
    from flask_babel import force_locale

    from backoffice import stored_text

    definition = labels.define("custom_fields.flag", spec("flag", "text"), "Attrited")
    counts = labels.LabelCounts()
    counts.add(*definition.labels(pd.Series(["Existing Customer"], dtype=object)))
    with pytest.raises(labels.LabelError) as refused:
        labels.check(definition, counts)
    kept = stored_text.keep(refused.value.message)
    assert stored_text.is_kept(kept)
    with app.test_request_context():
        with force_locale("en"):
            assert stored_text.show(kept) == ("target flag: no customer has the value "
                                              "'Attrited'; values found: Existing Customer: 1")
        with force_locale("zh"):
            assert stored_text.show(kept) == ("目标 flag：没有客户的值为 'Attrited'；"
                                              "现有取值：Existing Customer: 1")


def test_status_target_takes_no_other_positive():
    definition = labels.define(labels.STATUS_TARGET)
    assert labelled(definition, ["closed", "active", "dormant", "deceased"])[0] == \
        [1, 0, 0, None]
    with pytest.raises(labels.LabelError, match="status target is fixed"):
        labels.define(labels.STATUS_TARGET, None, "dormant")


def yes_no_file(n=240, blanks=12, seed=5):
    """A 是/否 target driven by a score, with blanks; the blanks sit on high scores, so reading
    them as "left" (the old behaviour) would change what the model learns."""
    rng = np.random.default_rng(seed)
    rows, truth = [], {}
    for i in range(n):
        score = float(rng.uniform(0, 1))
        left = rng.uniform() < 0.15 + 0.7 * score
        value = "是" if left else "否"
        if i < blanks:
            value, score = "", 0.99
        number = f"LBLYN{i:04d}"
        truth[number] = value
        rows.append([number, f"客户{i}", "Female" if i % 2 else "Male", round(score * 100),
                     round(float(rng.normal()), 3), value])
    return ["CustomerId", "Surname", "Gender", "Score", "Noise", "是否流失"], rows, truth


def test_a_yes_no_target_with_blanks_trains_on_the_right_labels(app, world, monkeypatch):
    """``churn train --target 是否流失 --positive 是``: 是 left, 否 stayed, blanks left out and
    counted (in the output and in the stored version), and exactly those labels reach the
    model."""
    from sqlalchemy import func, select

    from backoffice.extensions import db
    from models import Customer
    from models.churn import ChurnModel
    from tests.churn.imported import captured_training, imported, train_cli

    header, rows, truth = yes_no_file()
    seen = captured_training(monkeypatch)
    with imported(app, header, rows) as ids:
        everyone = db.session.scalar(select(func.count()).select_from(Customer)
                                     .execution_options(crm_unscoped=True))
        code, output = train_cli(app, "--target", "是否流失", "--positive", "是", "--cv-folds", 2)
        assert code == 0, output
        y = seen["y"]
        for number, value in truth.items():
            got = y[ids[number]]
            assert (np.isnan(got) if value == "" else got == (1.0 if value == "是" else 0.0)), \
                (number, value, got)
        left = sum(v == "是" for v in truth.values())
        stayed = sum(v == "否" for v in truth.values())
        assert int(y.notna().sum()) == left + stayed and int(y.sum()) == left
        row = db.session.scalars(select(ChurnModel).order_by(ChurnModel.version.desc())).first()
        counts = row.training_config["label"]["counts"]
        assert (counts["positive"], counts["negative"], counts["missing"]) == \
            (left, stayed, everyone - left - stayed)
        assert row.training_config["label"]["positive"] == ["true"]
        assert f"{left} " in output and f"{stayed} " in output
        assert f"{everyone - left - stayed} " in output
        assert "cf.score" in output and "cf.noise" in output  # the features used are printed
        target = row.target.split(".", 1)[1]
        assert row.target.startswith("custom_fields.") and target != "是否流失"  # by its label
        assert f"cf.{target}" not in row.training_config["features"]  # never its own feature


def test_a_text_target_without_the_value_meaning_left_is_refused_with_its_values(app, world):
    """No guessing: the command names the values found and asks for ``--positive``; nothing is
    stored."""
    from sqlalchemy import func, select

    from backoffice.extensions import db
    from models.churn import ChurnModel
    from tests.churn.imported import imported, train_cli

    rows = [[f"LBLTX{i:04d}", f"客户{i}", "Male", i, ["Attrited Customer", "Existing Customer",
                                                       "Existing Customer", ""][i % 4]]
            for i in range(40)]
    with imported(app, ["CustomerId", "Surname", "Gender", "Score", "Flag"], rows):
        before = db.session.scalar(select(func.count()).select_from(ChurnModel))
        code, output = train_cli(app, "--target", "Flag", "--cv-folds", 2)
        assert code != 0
        assert "--positive" in output and "Existing Customer: 20" in output
        assert "Attrited Customer: 10" in output
        code, output = train_cli(app, "--target", "Flag", "--positive", "Attrited", "--cv-folds",
                                 2)
        # The import made the column a choice field: a value that is none of its choices (the
        # command speaks the default language: the value and the choices are what is checked).
        assert code != 0 and "'Attrited'" in output
        assert "Attrited Customer (Attrited Customer / Attrited Customer)" in output
        assert db.session.scalar(select(func.count()).select_from(ChurnModel)) == before
