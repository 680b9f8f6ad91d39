"""The small parts of the xlsx writer that Python writes itself."""

import xml.etree.ElementTree as ElementTree

import pytest

from worker.formats.cells import Column
from worker.formats.xlsx import column_letter, content_types, sheet_head, workbook, xml_text


@pytest.mark.parametrize(
    ("index", "letter"), [(0, "A"), (25, "Z"), (26, "AA"), (51, "AZ"), (52, "BA"), (701, "ZZ")]
)
def test_column_letters(index, letter):
    assert column_letter(index) == letter


def test_header_text_is_escaped_like_the_cells():
    assert xml_text('a<b>&"c"') == 'a&lt;b&gt;&amp;"c"'
    assert xml_text("bell\x07 tab\t") == "bell_x0007_ tab&#9;"
    assert xml_text("_x0041_") == "_x005F_x0041_"


def test_the_parts_are_well_formed_xml_and_name_every_sheet():
    head = sheet_head([Column("a<b", 23)], [5]) + b"</sheetData></worksheet>"
    ElementTree.fromstring(head)
    book = ElementTree.fromstring(workbook(3).encode())
    assert len(book.find("{*}sheets")) == 3
    assert content_types(3).count("/xl/worksheets/sheet") == 3
