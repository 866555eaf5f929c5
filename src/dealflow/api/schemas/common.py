"""What many bodies share: pages of a list, and the limits on ids and text."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from dealflow.store.listings import Page as StoredPage
from dealflow.store.listings import Window

T = TypeVar("T")

Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Key = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Text = Annotated[str, StringConstraints(max_length=10_000)]
ShortText = Annotated[str, StringConstraints(max_length=500)]
FieldValue = Annotated[str, StringConstraints(max_length=10_000)] | int | float | bool | None
Fields = Annotated[dict[Key, FieldValue], Field(max_length=200)]


class Body(BaseModel):
    """A request body: unknown fields are refused rather than ignored."""

    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    """One slice of a list: ``count`` is the size of the whole list."""

    data: list[T]
    count: int
    limit: int
    offset: int

    @classmethod
    def of(cls, page: StoredPage, window: Window, item: Callable[[Any], T]) -> Page[T]:
        """A page of stored rows, each turned into an item."""
        return cls(data=[item(r) for r in page.rows], count=page.count, limit=window.limit, offset=window.offset)

    @classmethod
    def of_items(cls, items: Sequence[T], window: Window) -> Page[T]:
        """A page cut out of a list computed whole."""
        chosen = list(items[window.offset : window.offset + window.limit])
        return cls(data=chosen, count=len(items), limit=window.limit, offset=window.offset)


def row_dict(row: Any) -> dict[str, Any]:
    """A stored row as a dict."""
    return dict(row._mapping)
