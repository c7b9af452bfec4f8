"""A rendered page read the way a screen reader relies on it (for the pages' tests).

Each id once on the page, each ``<label for>`` leading to an element, and each field with errors
(``aria-invalid="true"``) pointing, through its ``aria-describedby`` or its fieldset's, at the
element that holds its error text; each field's error list is pointed at by its field.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass(eq=False)
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Element | None
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.parts).strip()

    def enclosing(self, tag: str) -> Element | None:
        """The nearest element ``tag`` it sits in."""
        element = self.parent
        while element is not None and element.tag != tag:
            element = element.parent
        return element

    @property
    def described_by(self) -> list[str]:
        """The ids that describe it: its own ``aria-describedby``, or else its fieldset's."""
        own = self.attrs.get("aria-describedby", "")
        if not own and (fieldset := self.enclosing("fieldset")) is not None:
            own = fieldset.attrs.get("aria-describedby", "")
        return own.split()


class Markup(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs}, self._open[-1] if self._open else None)
        self.elements.append(element)
        if tag not in VOID:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index].tag == tag:
                del self._open[index:]
                return

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.parts.append(data)

    def by_id(self) -> dict[str, Element]:
        return {e.attrs["id"]: e for e in self.elements if "id" in e.attrs}

    def id_problems(self) -> list[str]:
        """Ids used more than once, and labels that lead to no element."""
        counts = Counter(e.attrs["id"] for e in self.elements if "id" in e.attrs)
        problems = [f"id {name!r} is used {count} times" for name, count in counts.items() if count > 1]
        problems += [
            f"<label for={e.attrs['for']!r}> ({e.text[:20]}) leads to no element"
            for e in self.elements
            if e.tag == "label" and "for" in e.attrs and e.attrs["for"] not in counts
        ]
        return problems

    def invalid_fields(self) -> list[Element]:
        return [e for e in self.elements if e.attrs.get("aria-invalid") == "true"]

    def error_of(self, field_id: str) -> str:
        """The text that describes the field ``field_id`` (its errors, once it has some)."""
        ids = self.by_id()
        return " ".join(ids[i].text for i in ids[field_id].described_by if i in ids)

    def error_problems(self) -> list[str]:
        """Fields with errors not pointing at their text, and field error lists no field points at."""
        ids = self.by_id()
        problems = []
        for e in self.invalid_fields():
            texts = [ids[i].text for i in e.described_by if i in ids]
            if not any(texts):
                problems.append(f"{e.tag}[name={e.attrs.get('name')!r}] has errors but describedby {e.described_by}")
        pointed = {i for e in self.elements for i in e.described_by}
        for e in self.elements:
            if e.tag != "ul" or "errorlist" not in e.attrs.get("class", "").split():
                continue
            if "nonfield" in e.attrs.get("class", "").split():
                continue
            owner = ids.get(e.attrs.get("id", "").removesuffix("_error"))
            if owner is not None and owner.attrs.get("type") == "hidden":
                continue  # a hidden field's errors have no field to be read with
            if e.attrs.get("id") not in pointed:
                problems.append(f"error list {e.attrs.get('id')!r} ({e.text[:30]}) is pointed at by no field")
        return problems
