"""Configuration: defaults for everyone, a municipality's file on top, errors with file and line."""

from pathlib import Path

import pytest

from adapters.config import ConfigError, ConfigStore

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, name: str, text: str) -> Path:
    d = tmp_path / "kommuner"
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(text, encoding="utf-8")
    return d


def test_unknown_key_names_file_and_line(tmp_path):
    d = write(tmp_path, "1480.yaml", 'kommun_kod: "1480"\nexcel:\n  sheets: ["A"]\n  sheetz: ["B"]\n')
    with pytest.raises(ConfigError) as info:
        ConfigStore(d)
    assert str(info.value) == f"{d / '1480.yaml'} line 4: excel.sheetz: unknown key"


def test_mapping_to_a_code_that_does_not_exist_names_file_and_line(tmp_path):
    d = write(tmp_path, "1402.yaml",
              "values:\n  status:\n    exact:\n      jobb: ARBETE\n      kurs: KURS\n")
    with pytest.raises(ConfigError) as info:
        ConfigStore(d)
    message = str(info.value)
    assert message.startswith(f"{d / '1402.yaml'} line 5: values.status.exact.kurs: "
                              "'KURS' is not a status code; allowed: ARBETE,")


def test_invalid_yaml_and_bad_kommun_kod(tmp_path):
    d = write(tmp_path, "1384.yaml", "values: [unclosed\n")
    with pytest.raises(ConfigError, match=r"1384.yaml line \d+: not valid YAML"):
        ConfigStore(d)
    d2 = write(tmp_path / "x", "lista.yaml", "namn: Okänd\n")
    with pytest.raises(ConfigError, match="name the file <kommunkod>.yaml or set kommun_kod"):
        ConfigStore(d2)


def test_defaults_apply_without_a_file_and_a_file_adds_to_them(tmp_path):
    d = write(tmp_path, "1480.yaml",
              'values:\n  insats_typ:\n    exact:\n      "Lotsen": VAGLEDNING\n'
              'excel:\n  header_aliases:\n    startdatum: ["Inskriven datum"]\n')
    store = ConfigStore(d)
    own, plain = store.for_system("1480", "excel"), store.for_system("1401", "excel")
    assert own.map_value("insats_typ", "  LOTSEN ") == "VAGLEDNING"
    assert plain.map_value("insats_typ", "Lotsen") is None  # unmapped: never guessed
    assert own.map_value("insats_typ", "ATR Arbetsträning Returbutik") == "ARBETSTRANING"
    assert own.column_for("Inskriven datum") == "startdatum"
    assert plain.column_for("Inskriven datum") is None
    assert plain.column_for("Status 6 mån") == "status_6"
    assert store.for_system("1480", "procapita").column_for("Inskriven datum") is None


def test_status_is_matched_exactly_not_by_keyword():
    cfg = ConfigStore(None).for_system("1401", "excel")
    assert cfg.map_value("status", " Jobb ") == "ARBETE"
    assert cfg.map_value("status", "Ej arbete") is None
    assert cfg.map_value("status", "Vet ej") == "OKAND"


def test_the_committed_municipality_files_are_valid():
    store = ConfigStore(ROOT / "config" / "kommuner")
    assert set(store.kommuner) == {"1480", "1384", "1415", "1402"}


def test_malformed_sections_are_errors_not_crashes(tmp_path):
    d = write(tmp_path, "1440.yaml", "values: 5\nexcel:\n  dimensions: [a]\n")
    with pytest.raises(ConfigError, match=r"1440.yaml line 1: values: Input should be a valid dictionary"):
        ConfigStore(d)
