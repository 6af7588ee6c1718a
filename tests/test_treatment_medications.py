"""The medications[] contract: strict parsing with dotted error paths."""

from datetime import datetime, timedelta, timezone

import pytest

from maswatch.errors import InputError
from maswatch.treatment import Medication, parse_medications

OK = {
    "id": "m1", "drug": "methylprednisolone", "start": "2024-05-01T12:00:00Z",
    "end": "2024-05-04T12:00:00Z", "dose": {"value": 30, "unit": "mg/kg"},
    "frequency_per_day": 1, "route": "iv",
}


def test_parses_the_timeline_format_example():
    (m,) = parse_medications([OK])
    assert m.drug == "methylprednisolone"
    assert m.start == datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    assert m.dose.per_kg and m.dose.mg == 30
    assert m.is_glucocorticoid
    assert m.interval == timedelta(days=1)


def test_offset_times_are_kept_as_instants():
    (m,) = parse_medications([{**OK, "start": "2024-05-01T14:00:00+02:00"}])
    assert m.start == datetime(2024, 5, 1, 12, tzinfo=timezone.utc)


def test_grams_are_exactly_1000_mg():
    (m,) = parse_medications([{**OK, "dose": {"value": 1, "unit": "g"}}])
    assert m.dose.mg == 1000 and not m.dose.per_kg
    (m,) = parse_medications([{**OK, "dose": {"value": 0.03, "unit": "g/kg"}}])
    assert m.dose.mg == 30 and m.dose.per_kg


def test_ongoing_and_doseless_lines_are_allowed():
    (m,) = parse_medications([{"id": "a", "drug": "anakinra", "start": "2024-05-01T12:00:00Z"}])
    assert m.end is None and m.dose is None and m.frequency_per_day == 1
    assert m.active_at(datetime(2030, 1, 1, tzinfo=timezone.utc))


@pytest.mark.parametrize(
    "patch, field",
    [
        ({"dose": {"value": 30, "unit": "mg/m2"}}, "medications[2].dose.unit"),
        ({"dose": {"value": 30}}, "medications[2].dose.unit"),
        ({"dose": {"value": 0, "unit": "mg"}}, "medications[2].dose.value"),
        ({"dose": {"value": -5, "unit": "mg"}}, "medications[2].dose.value"),
        ({"dose": {"value": "5", "unit": "mg"}}, "medications[2].dose.value"),
        ({"dose": {"value": float("nan"), "unit": "mg"}}, "medications[2].dose.value"),
        ({"start": "2024-05-01T12:00:00"}, "medications[2].start"),
        ({"end": "2024-05-01T12:00:00Z"}, "medications[2].end"),
        ({"end": "2024-04-01T12:00:00Z"}, "medications[2].end"),
        ({"drug": "aspirin"}, "medications[2].drug"),
        ({"frequency_per_day": 0}, "medications[2].frequency_per_day"),
        ({"frequency_per_day": 30}, "medications[2].frequency_per_day"),
        ({"dosage": 3}, "medications[2].dosage"),
    ],
)
def test_invalid_records_are_refused_with_their_path(patch, field):
    items = [{**OK, "id": "a"}, {**OK, "id": "b"}, {**OK, "id": "c", **patch}]
    with pytest.raises(InputError) as e:
        parse_medications(items)
    assert e.value.field == field


def test_unknown_unit_message_names_the_unit_and_the_accepted_ones():
    with pytest.raises(InputError) as e:
        parse_medications([{**OK, "dose": {"value": 30, "unit": "mg/m2"}}])
    assert "mg/m2" in e.value.message and "mg/kg" in e.value.message


def test_duplicate_ids_and_non_lists_are_refused():
    with pytest.raises(InputError) as e:
        parse_medications([OK, OK])
    assert e.value.field == "medications[1].id"
    with pytest.raises(InputError) as e:
        parse_medications(OK)
    assert e.value.field == "medications"
    with pytest.raises(InputError) as e:
        parse_medications(["m1"])
    assert e.value.field == "medications[0]"


def test_model_is_frozen_and_strict():
    (m,) = parse_medications([OK])
    with pytest.raises(Exception):
        m.drug = "prednisone"
    with pytest.raises(Exception):
        Medication(id="x", drug="prednisone", start=datetime(2024, 1, 1), dose=None)
