"""Pagination: every list is paginated, at most 100 items a page."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class PageParams:
    page: int = 1
    per_page: int = 20

    def __post_init__(self) -> None:
        if self.page < 1:
            raise ValueError("page must be at least 1")
        if not 1 <= self.per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_prev(self) -> bool:
        return self.page > 1


class PageRead(BaseModel, Generic[T]):
    """The JSON shape of a page: ``{"items", "total", "page", "per_page", "pages"}``."""

    items: list[T]
    total: int = Field(ge=0)
    page: int = Field(ge=1)
    per_page: int = Field(ge=1, le=MAX_PER_PAGE)
    pages: int = Field(ge=1)


def paginate(session: Session, stmt: Select[Any], params: PageParams) -> Page[Any]:
    """Run ``stmt`` for one page and count all its rows (ordering is the caller's)."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = list(session.scalars(stmt.limit(params.per_page).offset(params.offset)))
    return Page(items=rows, total=total, page=params.page, per_page=params.per_page)


S = TypeVar("S", bound=BaseModel)


def page_read(schema: type[S], page: Page[Any]) -> PageRead[S]:
    """Serialise a page of ORM rows with ``schema``."""
    return PageRead[schema](  # type: ignore[valid-type]
        items=[schema.model_validate(item) for item in page.items],
        total=page.total,
        page=page.page,
        per_page=page.per_page,
        pages=page.pages,
    )


def page_of(page: Page[S]) -> PageRead[S]:
    """A page whose items are already schemas."""
    return PageRead[S](
        items=list(page.items),
        total=page.total,
        page=page.page,
        per_page=page.per_page,
        pages=page.pages,
    )
