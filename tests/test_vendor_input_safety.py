"""Bad and hostile vendor results: a DxaError naming the file and the element, never a crash
and never a silently misread number; unsafe XML is refused before anything is expanded."""

from __future__ import annotations

import copy

import pydicom
import pytest
from pydicom.dataset import Dataset

from dxaspine import DxaError, VendorResultsError
from dxaspine.io.vendor import read_vendor_results, recognise
from dxaspine.io.vendor.common import parse_number
from dxaspine.io.vendor.hologic_xml import read_hologic_text
from dxaspine.io.vendor.units import convert
from dxaspine.phantom.vendor_results import write_vendor_results
from tests._vendor_cases import standard_cases

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    "<DXA_RESULTS>&lol3;</DXA_RESULTS>"
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    '<DXA_RESULTS><SCAN type="AP Spine"><ROI region="L1"><BMD>&x;</BMD></ROI></SCAN></DXA_RESULTS>'
)


@pytest.fixture(scope="module")
def ge_xml_ds(tmp_path_factory):
    path = write_vendor_results(standard_cases(1)[0], tmp_path_factory.mktemp("v"), ("ge_xml",))
    return pydicom.dcmread(path["ge_xml"])


def _with_comments(ds: Dataset, text: str, tmp_path) -> str:
    ds = copy.deepcopy(ds)
    ds.ImageComments = text
    path = tmp_path / "bad.dcm"
    ds.save_as(path, enforce_file_format=True)
    return str(path)


@pytest.mark.parametrize(
    "document", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion_laughs", "external_entity"]
)
def test_ge_xml_entity_attacks_are_refused(ge_xml_ds, tmp_path, document):
    path = _with_comments(ge_xml_ds, document, tmp_path)
    assert recognise(pydicom.dcmread(path)) == "ge_xml"  # recognised from the first bytes only
    with pytest.raises(VendorResultsError) as err:
        read_vendor_results(path)
    message = str(err.value)
    assert message.startswith(path) and "(0020,4000)" in message and "refused" in message
    assert "passwd" not in message and "lol" not in message


@pytest.mark.parametrize(
    "document", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion_laughs", "external_entity"]
)
def test_hologic_xml_entity_attacks_are_refused(document):
    hostile = (
        document.replace("DXA_RESULTS", "HologicResults") + '\nResultsTable1[0][0] = "Region";'
    )
    with pytest.raises(VendorResultsError, match=r"\(0019,1000\).*refused"):
        read_hologic_text(hostile, {}, "(0019,1000)", "f.dcm")


def test_malformed_xml_names_file_element_and_position(ge_xml_ds, tmp_path):
    path = _with_comments(
        ge_xml_ds, '<DXA_RESULTS><SCAN type="AP Spine"><ROI region="L1">', tmp_path
    )
    with pytest.raises(
        VendorResultsError, match=r"bad\.dcm: \(0020,4000\): XML is not well formed \(line 1"
    ):
        read_vendor_results(path)


def test_unknown_root_is_an_error(ge_xml_ds):
    ds = copy.deepcopy(ge_xml_ds)
    ds.ImageComments = "<OTHER_RESULTS><SCAN/></OTHER_RESULTS>"
    assert recognise(ds) is None  # not GE XML at all
    with pytest.raises(VendorResultsError, match="not a GE results document"):
        read_vendor_results(ds, kind="ge_xml")


@pytest.mark.parametrize(
    "bmd, problem",
    [
        ("0,9.3", "is not a number"),
        ("1e400", "non-finite"),
        ("nan", "is not a number"),
        ("0.93 g", "is not a number"),
    ],
)
def test_unparseable_numbers_are_errors(ge_xml_ds, tmp_path, bmd, problem):
    text = ge_xml_ds.ImageComments.split("<BMD>", 1)
    text = f"{text[0]}<BMD>{bmd}</BMD>{text[1].split('</BMD>', 1)[1]}"
    path = _with_comments(ge_xml_ds, text, tmp_path)
    with pytest.raises(VendorResultsError, match=problem) as err:
        read_vendor_results(path)
    assert "ROI[@region='L1']/BMD" in str(err.value)


def test_wrong_and_missing_units():
    # a BMD in grams is a unit of another quantity, an unknown spelling is refused
    with pytest.raises(VendorResultsError, match="'g' at X is not a unit of bmd"):
        convert(0.9, "g", "bmd", "f", "X")
    with pytest.raises(VendorResultsError, match="unknown unit 'furlong'"):
        convert(0.9, "furlong", "bmd", "f", "X")
    # mg/cm2 is converted exactly; a unitless BMD is read by magnitude only where unambiguous
    assert convert(930.0, "mg/cm2", "bmd", "f", "X").value == pytest.approx(0.930, abs=1e-12)
    assert (
        convert(0.93, None, "bmd", "f", "X").note
        == "no unit stated; g/cm2 assumed from the magnitude"
    )
    assert convert(930.0, None, "bmd", "f", "X").value == pytest.approx(0.930, abs=1e-12)
    with pytest.raises(VendorResultsError, match="outside the plausible range"):
        convert(12.0, None, "bmd", "f", "X")  # neither g/cm2 nor mg/cm2


def test_decimal_comma_and_refused_separators():
    assert parse_number("1,023", "f", "X") == 1.023  # the GE XML parser of docs §4 met this
    with pytest.raises(VendorResultsError):
        parse_number("1,023.5", "f", "X")  # thousands separator: refused, not guessed


def test_contradictory_duplicate_region_is_an_error(tmp_path):
    path = write_vendor_results(standard_cases(1)[0], tmp_path, ("ge_sr",))["ge_sr"]
    ds = pydicom.dcmread(path)
    spine = ds.ContentSequence[0]
    twin = copy.deepcopy(spine.ContentSequence[0])  # a second "L1" container ...
    twin.ContentSequence[0].MeasuredValueSequence[0].NumericValue = "1.234"  # ... another BMD
    spine.ContentSequence.append(twin)
    with pytest.raises(VendorResultsError, match="L1 reported twice with different numbers"):
        read_vendor_results(ds)


def test_not_a_results_object(tmp_path):
    from dxaspine.phantom import write_case

    case = standard_cases(1)[0]
    display = write_case(case, tmp_path, kinds=("display",))["display"]
    with pytest.raises(DxaError, match="no vendor results"):
        read_vendor_results(display)
    with pytest.raises(DxaError, match="not a DICOM file"):
        (tmp_path / "x.dcm").write_bytes(b"not dicom at all" * 20)
        read_vendor_results(tmp_path / "x.dcm")


def test_unexpected_structure_is_an_error_not_a_crash(tmp_path):
    path = write_vendor_results(standard_cases(1)[0], tmp_path, ("ge_sr",))["ge_sr"]
    ds = pydicom.dcmread(path)
    del (
        ds.ContentSequence[0]
        .ContentSequence[0]
        .ContentSequence[0]
        .MeasuredValueSequence[0]
        .MeasurementUnitsCodeSequence
    )
    ds.ContentSequence[0].ContentSequence[0].ContentSequence[0].MeasuredValueSequence[
        0
    ].NumericValue = "7"
    # a unitless BMD of 7 is neither g/cm2 nor mg/cm2: an error naming the element
    with pytest.raises(VendorResultsError, match=r"L1\[0\] > BMD\[0\] has no unit"):
        read_vendor_results(ds)
