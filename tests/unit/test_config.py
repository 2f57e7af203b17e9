"""Configuration: defaults for everyone, a municipality's file on top, errors with file and line."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from utfall.adapters.config import ConfigError, ConfigStore

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


# --- the configuration checked against SCB's list and the inbox ---------------------------------


def test_a_config_dir_that_does_not_exist_or_is_a_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        ConfigStore(tmp_path / "kommuner")
    assert str(info.value) == (f"configuration folder {tmp_path / 'kommuner'} does not exist "
                               "(--config-dir)")
    (tmp_path / "1480.yaml").write_text('kommun_kod: "1480"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        ConfigStore(tmp_path / "1480.yaml")
    assert str(info.value) == (f"configuration folder {tmp_path / '1480.yaml'} is not a folder "
                               "(--config-dir)")
    assert ConfigStore(None).kommuner == {}  # no folder at all: the defaults, on purpose


def test_kommun_kod_that_differs_from_the_file_name_names_file_and_line(tmp_path):
    d = write(tmp_path, "1384.yaml", '# Kungsbacka\nnamn: Kungsbacka\nkommun_kod: "1348"\n')
    with pytest.raises(ConfigError) as info:
        ConfigStore(d)
    assert str(info.value) == (f"{d / '1384.yaml'} line 3: kommun_kod '1348' differs from the "
                               "file's name (1384); make them the same")


def test_a_file_named_after_a_code_that_is_not_a_municipality(tmp_path):
    d = write(tmp_path, "1420.yaml", "namn: Partille\n")
    with pytest.raises(ConfigError) as info:
        ConfigStore(d)
    assert str(info.value) == (f"{d / '1420.yaml'} line 1: 1420 is not a municipality code (SCB); "
                               "did you mean 1402 (Partille), 1421 (Orust) or 1427 (Sotenäs)?")
    d2 = write(tmp_path / "b", "lista.yaml", 'namn: Test\nkommun_kod: "9999"\n')
    with pytest.raises(ConfigError) as info:
        ConfigStore(d2)
    assert str(info.value) == f"{d2 / 'lista.yaml'} line 2: 9999 is not a municipality code (SCB)"


def test_a_file_not_named_after_a_code_configures_its_kommun_kod(tmp_path):
    d = write(tmp_path, "partille.yaml", 'kommun_kod: "1402"\nnamn: Partille\n')
    store = ConfigStore(d)
    assert store.paths == {"1402": d / "partille.yaml"} and store.warnings == []


def test_a_name_that_is_not_scbs_is_a_warning(tmp_path, caplog):
    d = write(tmp_path, "1480.yaml", 'kommun_kod: "1480"\nnamn: Mölndal\n')
    write(tmp_path, "1440.yaml", "namn: Ale kommun\n")
    write(tmp_path, "1481.yaml", "namn: mölndals stad\n")
    with caplog.at_level("WARNING", logger="utfall.adapters.config"):
        store = ConfigStore(d)
    expected = (f"{d / '1480.yaml'} line 2: namn 'Mölndal' is not SCB's name for 1480 "
                "(Göteborg); Göteborg is used")
    assert store.warnings == [expected]
    assert [r.getMessage() for r in caplog.records] == [expected]
    assert set(store.kommuner) == {"1440", "1480", "1481"}


def test_the_committed_files_carry_scbs_names():
    assert ConfigStore(ROOT / "config" / "kommuner").warnings == []


# --- the fingerprint: what decides an adapter's output ---------------------------------------


def test_fingerprint_follows_what_changes_an_adapters_output(tmp_path):
    base = ('kommun_kod: "1480"\nnamn: Göteborg\nvalues:\n  insats_typ:\n    exact:\n'
            '      "Lotsen": VAGLEDNING\nexcel:\n  sheets: ["Deltagare *"]\n')
    one = ConfigStore(write(tmp_path / "a", "1480.yaml", base))
    fp = one.fingerprint("1480", "excel")
    assert re.fullmatch(r"[0-9a-f]{64}", fp)
    # the same settings from another folder, with comments and another namn: the same output
    same = ConfigStore(write(tmp_path / "b", "1480.yaml",
                             "# Göteborgs stad\n" + base.replace("namn: Göteborg", "namn: Gbg")))
    assert same.fingerprint("1480", "excel") == fp
    one.for_system("1480", "excel").map_value("insats_typ", "Lotsen")  # fills a cache
    assert one.fingerprint("1480", "excel") == fp
    changed = {
        "mapping": base.replace("VAGLEDNING", "ARBETSTRANING"),
        "sheets": base.replace("Deltagare *", "Blad1"),
        "alias": base + '  header_aliases:\n    startdatum: ["Första dag i insats"]\n',
        "scale": base + "skapa:\n  scale: [1, 7]\n",
        "encoding": base + "  encoding: cp1252\n",
    }
    prints = {name: ConfigStore(write(tmp_path / name, "1480.yaml", text)).fingerprint("1480", "excel")
              for name, text in changed.items()}
    assert prints["scale"] == fp  # a SKAPA setting does not touch the Excel adapter
    del prints["scale"]
    assert fp not in prints.values() and len(set(prints.values())) == len(prints)
    # a municipality on the defaults alone shares the defaults' fingerprint, not Göteborg's
    assert one.fingerprint("1401", "excel") == ConfigStore(None).fingerprint("1480", "excel") != fp
    assert one.fingerprint("1480", "skapa") != fp


def test_fingerprint_is_the_same_in_another_process(tmp_path):
    code = ("from pathlib import Path; from utfall.adapters.config import ConfigStore; "
            f"print(ConfigStore(Path({str(ROOT / 'config' / 'kommuner')!r}))"
            ".fingerprint('1402', 'skapa'))")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           cwd=ROOT, env=env, check=True).stdout.strip()
    assert other == ConfigStore(ROOT / "config" / "kommuner").fingerprint("1402", "skapa")
