"""The learner's own classes as data: named classes of photo names, the limits, and every edit as a pure function
that returns a new dataset or raises OwnDataError with a plain sentence (and so changes nothing).

A dataset is small and immutable: classes in order, each with a stable id (widget keys stay with a class when it is
renamed or another is removed), a name and its photos (sha256 names, core.transfer.own.photos). Its `digest()`
covers names and photos, not ids: the same classes and photos are the same dataset wherever they come from.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace

from core.config import digest
from core.errors import InputError

MIN_CLASSES, MAX_CLASSES = 2, 10
MIN_PHOTOS = 5  # per class, before it can be trained
MAX_PHOTOS_PER_CLASS = 100
MAX_PHOTOS = 300  # in all: a CPU extracts ~300 photos' features in tens of seconds
MAX_NAME = 40
NAME_RULE = "letters, digits, spaces and - ' , ( )"
# No markup characters, and no '.', ':' or '@': a name is shown in sentences, labels and figures as it is, and no
# markdown can make a link of it (www.x.org, http://x, a@b.org need one of those).
_NAME = re.compile(r"(?:[^\W_]|[ \-',()])+")
_ID = re.compile(r"[0-9a-f]{8}")
_SHA = re.compile(r"[0-9a-f]{64}")


class OwnDataError(InputError):
    """An edit of the learner's classes that can't be made; the message says why in plain words."""


@dataclass(frozen=True)
class OwnClass:
    id: str  # 8 hex digits
    name: str
    photos: tuple[str, ...]  # sha256 names, in the order they were added


@dataclass(frozen=True)
class Dataset:
    classes: tuple[OwnClass, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    @property
    def n_photos(self) -> int:
        return sum(len(c.photos) for c in self.classes)

    def rows(self) -> list[tuple[str, int]]:
        """(photo, class index) of every photo, class by class: the order of a trained run's rows."""
        return [(p, i) for i, c in enumerate(self.classes) for p in c.photos]

    def digest(self) -> str:
        return digest([[c.name, list(c.photos)] for c in self.classes])

    def get(self, class_id: str) -> OwnClass:
        for c in self.classes:
            if c.id == class_id:
                return c
        raise OwnDataError("That class is gone (another tab may have removed it); nothing was changed.")

    def owner(self, photo: str) -> OwnClass | None:
        return next((c for c in self.classes if photo in c.photos), None)

    def problems(self) -> list[str]:
        """What stops training, in plain words (empty when it can train)."""
        out = []
        if len(self.classes) < MIN_CLASSES:
            out.append(f"Add a class: a classifier needs at least {MIN_CLASSES} classes to tell apart.")
        for c in self.classes:
            n = len(c.photos)
            if n == 0:
                out.append(f"“{c.name}” has no photos yet: give it at least {MIN_PHOTOS}.")
            elif n < MIN_PHOTOS:
                out.append(f"“{c.name}” has {n} photo{'s' if n > 1 else ''}: each class needs at least {MIN_PHOTOS} "
                           f"({MIN_PHOTOS - n} more).")
        return out

    def to_dict(self) -> dict:
        return {"format": 1, "classes": [{"id": c.id, "name": c.name, "photos": list(c.photos)}
                                         for c in self.classes]}

    @staticmethod
    def from_dict(d: object) -> Dataset:
        """A dataset read from a file (hostile): every field checked, OwnDataError naming the first defect."""
        if not isinstance(d, dict) or set(d) != {"format", "classes"} or d.get("format") != 1:
            raise OwnDataError("not a dataset of this app (expected format 1 with classes)")
        classes = d["classes"]
        if not isinstance(classes, list) or len(classes) > MAX_CLASSES:
            raise OwnDataError(f"a dataset holds a list of at most {MAX_CLASSES} classes")
        out = []
        for c in classes:
            if not isinstance(c, dict) or set(c) != {"id", "name", "photos"}:
                raise OwnDataError("each class has an id, a name and photos")
            if not isinstance(c["id"], str) or not _ID.fullmatch(c["id"]):
                raise OwnDataError("a class id must be 8 hex digits")
            photos = c["photos"]
            if not isinstance(photos, list) or len(photos) > MAX_PHOTOS_PER_CLASS \
                    or not all(isinstance(p, str) and _SHA.fullmatch(p) for p in photos):
                raise OwnDataError(f"a class holds at most {MAX_PHOTOS_PER_CLASS} photo names (64 hex digits each)")
            out.append(OwnClass(c["id"], check_name(c["name"]), tuple(photos)))
        ds = Dataset(tuple(out))
        names = [p for c in ds.classes for p in c.photos]
        if len(names) != len(set(names)):
            raise OwnDataError("a photo appears twice (one photo can teach one class only)")
        if ds.n_photos > MAX_PHOTOS:
            raise OwnDataError(f"a dataset holds at most {MAX_PHOTOS} photos")
        if len({n.casefold() for n in ds.names}) != len(ds.names) or len({c.id for c in ds.classes}) != len(out):
            raise OwnDataError("two classes share a name or an id")
        return ds


def check_name(name: object) -> str:
    """A class name, stripped; OwnDataError in plain words when it is empty, too long or uses other characters."""
    if not isinstance(name, str) or not name.strip():
        raise OwnDataError("A class needs a name.")
    name = " ".join(name.split())
    if len(name) > MAX_NAME:
        raise OwnDataError(f"A class name has at most {MAX_NAME} characters ({len(name)} given).")
    if not _NAME.fullmatch(name):
        raise OwnDataError(f"A class name may use {NAME_RULE}; other characters are not accepted.")
    return name


def new_id(taken: set[str]) -> str:
    while (i := secrets.token_hex(4)) in taken:
        pass
    return i


def starting() -> Dataset:
    """Two empty classes, as Teachable Machine opens."""
    a = new_id(set())
    return Dataset((OwnClass(a, "Class 1", ()), OwnClass(new_id({a}), "Class 2", ())))


# ---------------------------------------------------------------- edits: each returns a new dataset or raises
def add_class(ds: Dataset, name: str | None = None) -> Dataset:
    if len(ds.classes) >= MAX_CLASSES:
        raise OwnDataError(f"This route takes at most {MAX_CLASSES} classes; remove one to add another.")
    taken = {n.casefold() for n in ds.names}
    name = check_name(name) if name is not None else next(
        f"Class {i}" for i in range(1, MAX_CLASSES + 2) if f"class {i}" not in taken)
    if name.casefold() in taken:
        raise OwnDataError(f"There is a class named “{name}” already: two classes can't share a name.")
    return Dataset((*ds.classes, OwnClass(new_id({c.id for c in ds.classes}), name, ())))


def remove_class(ds: Dataset, class_id: str) -> Dataset:
    ds.get(class_id)
    return Dataset(tuple(c for c in ds.classes if c.id != class_id))


def rename(ds: Dataset, class_id: str, name: str) -> Dataset:
    old = ds.get(class_id)
    name = check_name(name)
    if any(c.name.casefold() == name.casefold() and c.id != class_id for c in ds.classes):
        raise OwnDataError(f"There is a class named “{name}” already: two classes can't share a name, so this "
                           f"one is still called “{old.name}”.")
    return _with(ds, replace(old, name=name))


def remove_photo(ds: Dataset, class_id: str, photo: str) -> Dataset:
    c = ds.get(class_id)
    return _with(ds, replace(c, photos=tuple(p for p in c.photos if p != photo)))


def add_photos(ds: Dataset, class_id: str, photos: list[str]) -> tuple[Dataset, list[str]]:
    """Add photos (sha256 names) to a class -> (dataset, a plain sentence per photo that was not added): one already
    in this class, one that is in another class (a photo teaches one class only), and any beyond the limits."""
    c = ds.get(class_id)
    notes: list[str] = []
    kept = list(c.photos)
    total = ds.n_photos
    for p in photos:
        other = ds.owner(p)
        if p in kept:
            notes.append(f"one photo is in “{c.name}” already (the same picture is kept once)")
        elif other is not None:
            notes.append(f"one photo is in “{other.name}” already: a photo can teach one class only, so it was "
                         f"not added to “{c.name}”")
        elif len(kept) >= MAX_PHOTOS_PER_CLASS:
            notes.append(f"“{c.name}” is full ({MAX_PHOTOS_PER_CLASS} photos a class at most)")
        elif total >= MAX_PHOTOS:
            notes.append(f"the dataset is full ({MAX_PHOTOS} photos in all at most)")
        else:
            kept.append(p)
            total += 1
    return _with(ds, replace(c, photos=tuple(kept))), notes


def _with(ds: Dataset, changed: OwnClass) -> Dataset:
    return Dataset(tuple(changed if c.id == changed.id else c for c in ds.classes))
