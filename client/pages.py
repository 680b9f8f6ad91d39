"""Walking a paged listing of the API from its first page to its last."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Protocol, TypeVar

Item = TypeVar("Item")
ItemCo = TypeVar("ItemCo", covariant=True)


class Page(Protocol[ItemCo]):
    """ReportPage, DefinitionPage: a page's items and how many there are in all."""

    @property
    def items(self) -> Sequence[ItemCo]: ...

    @property
    def total(self) -> int: ...


def every_item(
    fetch: Callable[[int], Page[Item]], page_size: int, key: Callable[[Item], Hashable]
) -> Iterator[Item]:
    """Every item of every page, fetching page after page, each item once.

    Items created meanwhile push older ones onto later pages, where they would come again;
    `key` tells them apart.
    """
    seen: set[Hashable] = set()
    page = 1
    while True:
        result = fetch(page)
        for item in result.items:
            if key(item) not in seen:
                seen.add(key(item))
                yield item
        if not result.items or page * page_size >= result.total:
            return
        page += 1
