"""The learner's own classes on the Transfer page: the store, the class editor (name, photos by upload or camera,
thumbnails, remove), and saving, sharing and restoring a set of classes.

Every edit goes through core.transfer.own.dataset's pure functions under the store's lock: a refused edit shows its
sentence and changes nothing. A photo is validated by content and reduced to a 256×256 square on arrival; its
feature is computed at once (one forward pass) when the ImageNet weights are here.
"""
from __future__ import annotations

import re
import string
from collections.abc import Callable
from datetime import datetime

import numpy as np
import streamlit as st

from core.data.uploads import MAX_FILE_BYTES, UploadError
from core.transfer.own import dataset as own
from core.transfer.own.archive import MAX_ARCHIVE_MB, DatasetArchiveError, export_dataset, import_dataset
from core.transfer.own.photos import from_upload
from core.transfer.own.store import OwnStore, own_root
from ui import resources

K = "own"  # widget-key prefix of the route
NOTES = f"{K}_notes"  # [(kind, text)] shown once at the top of the route
PHOTO_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif"]
PHOTO_MB = MAX_FILE_BYTES >> 20  # each photo, as every image upload of the app
THUMB = 64  # px


JOINER = "\u2060"  # WORD JOINER: invisible; after ':' and '@' and inside 'www.' it keeps GFM from making links


def md(text: object, limit: int = 120) -> str:
    """Outside text (a file's name, an archive's complaint) as markdown that shows exactly its characters, on one
    line: every ASCII punctuation backslash-escaped, and no bare address or e-mail autolinked (as ui/text.py's md
    on the house branch to come: use that one once it is merged)."""
    s = " ".join("".join(ch if ch.isprintable() else " " for ch in str(text)).split())
    s = s if len(s) <= limit else s[: limit - 1] + "…"
    s = re.sub("([" + re.escape(string.punctuation) + "])", r"\\\1", s)
    s = s.replace(":", ":" + JOINER).replace("@", "@" + JOINER)
    return re.sub(r"(www)(?=\\\.)", r"\1" + JOINER, s, flags=re.IGNORECASE)


@st.cache_resource(max_entries=4, show_spinner=False)
def _store(root: str) -> OwnStore:
    return OwnStore(root)


def store() -> OwnStore:
    return _store(str(own_root(resources.paths())))


TOP = "top"  # where a note is shown: TOP of the route, "camera", or a class's id (in its box, where the learner acted)


def note(kind: str, text: str, where: str = TOP) -> None:
    st.session_state.setdefault(NOTES, []).append((kind, text, where))


def show_notes(where: str | None = TOP) -> None:
    """The notes for this place (None: all that are left), once; the others stay for their place."""
    icons = {"error": ":material/error:", "warning": ":material/warning:", "success": ":material/check_circle:",
             "info": ":material/info:"}
    notes = st.session_state.get(NOTES, [])
    for kind, text, _ in [n for n in notes if where is None or n[2] == where]:
        getattr(st, kind)(text, icon=icons[kind])
    st.session_state[NOTES] = [n for n in notes if where is not None and n[2] != where]


def edit(change: Callable[[own.Dataset], own.Dataset], where: str = TOP) -> own.Dataset | None:
    """Apply an edit to the working dataset; a refusal or a store that can't be written becomes a note."""
    try:
        return store().edit(change)
    except own.OwnDataError as e:
        note("warning", str(e), where)
    except OSError as e:
        note("error", f"Your classes could not be saved: the store can't be written ({e.strerror or e}). Nothing "
                      "was changed.", where)
    return None


@st.cache_data(max_entries=2000, show_spinner=False)
def thumbnail(photo: str, root: str) -> np.ndarray | None:
    from PIL import Image

    pixels = _store(root).photo(photo)
    if pixels is None:
        return None
    return np.asarray(Image.fromarray(pixels).resize((THUMB, THUMB), Image.Resampling.BILINEAR))


# ---------------------------------------------------------------- adding photos
def add_files(class_id: str, files: list, keep_features: Callable[[list[str]], None] | None,
              where: str = TOP) -> None:
    """Validate and keep uploaded files (or a camera frame) as photos of a class; one sentence per file that could
    not be used, one per photo that was not added (already there, in another class, beyond the limits)."""
    ds, _ = store().dataset()
    try:
        name = ds.get(class_id).name
    except own.OwnDataError as e:
        note("warning", str(e), where)
        return
    room = max(0, min(own.MAX_PHOTOS_PER_CLASS - len(ds.get(class_id).photos), own.MAX_PHOTOS - ds.n_photos))
    taken, left_out = files[:room], len(files) - room
    bad, kept = [], []
    bar = st.progress(0.0, text=f"Reading {len(taken)} photo{'s' if len(taken) != 1 else ''}…") if len(taken) > 3 \
        else None
    for i, f in enumerate(taken):
        try:
            photo, _ = from_upload(f.getvalue())
            kept.append(store().put_photo(photo))
        except UploadError as e:
            bad.append(f"**{md(f.name)}**: {e}")
        except OSError as e:
            bad.append(f"**{md(f.name)}** could not be saved: the store can't be written ({e.strerror or e}).")
        if bar is not None:
            bar.progress((i + 1) / len(taken), text=f"Reading photos… {i + 1} of {len(taken)}")
    if bar is not None:
        bar.empty()
    result: list[str] = []

    def change(d: own.Dataset) -> own.Dataset:
        new, notes = own.add_photos(d, class_id, kept)
        result.extend(notes)
        return new

    if kept and edit(change, where) is not None:
        added = len(kept) - len(result)
        if added:
            note("success", f"Added {added} photo{'s' if added > 1 else ''} to “{name}”.", where)
            if keep_features is not None:
                keep_features(kept)
        if result:
            note("warning", f"{len(result)} photo{'s were' if len(result) > 1 else ' was'} not added: "
                 + "; ".join(sorted(set(result))) + ".", where)
    if left_out > 0:
        note("warning", f"{left_out} of the {len(files)} photos were not added: a class holds at most "
                        f"{own.MAX_PHOTOS_PER_CLASS} photos and a dataset {own.MAX_PHOTOS}. Everything already "
                        "stored is kept.", where)
    if bad:
        note("error", f"{len(bad)} file{'s' if len(bad) > 1 else ''} could not be used:\n\n"
             + "\n\n".join(f"- {b}" for b in bad[:10]) + ("\n\n…" if len(bad) > 10 else ""), where)


def _bump(key: str) -> None:
    st.session_state[key] = st.session_state.get(key, 0) + 1


# ---------------------------------------------------------------- the editor
def _rename(class_id: str) -> None:
    widget = f"{K}_name_{class_id}"
    wanted = st.session_state.get(widget, "")
    if edit(lambda d: own.rename(d, class_id, wanted), class_id) is None:
        ds, _ = store().dataset()  # refused: the field shows the name the class still has
        st.session_state[widget] = next((c.name for c in ds.classes if c.id == class_id), wanted)


def _remove_photos(class_id: str) -> None:
    picked = st.session_state.get(f"{K}_pick_{class_id}", [])
    ds, _ = store().dataset()
    names = [c.photos for c in ds.classes if c.id == class_id]
    if not names:
        return
    gone = [names[0][i] for i in picked if i < len(names[0])]

    def change(d: own.Dataset) -> own.Dataset:
        for p in gone:
            d = own.remove_photo(d, class_id, p)
        return d

    if gone and edit(change, class_id) is not None:
        note("info", f"Removed {len(gone)} photo{'s' if len(gone) > 1 else ''}.", class_id)
    st.session_state[f"{K}_pick_{class_id}"] = []


def class_box(c: own.OwnClass, keep_features: Callable[[list[str]], None] | None, can_remove: bool) -> None:
    """One class: its name, photos (upload, thumbnails, remove) and a button to remove the class."""
    with st.container(border=True):
        widget = f"{K}_name_{c.id}"
        if st.session_state.get(widget) != c.name:  # new, or renamed elsewhere (another tab, an opened set)
            st.session_state[widget] = c.name
        c1, c2, c3 = st.columns([3, 2, 1], vertical_alignment="bottom")
        c1.text_input("Class name", key=widget, max_chars=own.MAX_NAME, on_change=_rename, args=(c.id,),
                      help=f"{own.NAME_RULE.capitalize()}; two classes can't share a name")
        n = len(c.photos)
        need = "" if n >= own.MIN_PHOTOS else f" · needs {own.MIN_PHOTOS - n} more"
        c2.markdown(f"**{n}** photo{'s' if n != 1 else ''}{need}")
        if c3.button("Remove", key=f"{K}_drop_{c.id}", icon=":material/delete:", disabled=not can_remove,
                     help="remove this class (its photos stay on disk, in any saved set that has them)"):
            if edit(lambda d: own.remove_class(d, c.id)) is not None:
                note("info", f"Removed the class “{c.name}”.")
            st.rerun()
        nonce = f"{K}_nonce_{c.id}"
        files = st.file_uploader(f"Add photos to “{c.name}”", type=PHOTO_TYPES, accept_multiple_files=True,
                                 key=f"{K}_up_{c.id}_{st.session_state.get(nonce, 0)}", max_upload_size=PHOTO_MB,
                                 help="many at once: select several files, or drop them here")
        if files:
            add_files(c.id, list(files), keep_features, c.id)
            _bump(nonce)  # a fresh, empty uploader: the files were taken
            st.rerun()
        show_notes(c.id)  # what happened to the photos given here, where the learner gave them
        if c.photos:
            root = str(store().root)
            thumbs = [(i, thumbnail(p, root)) for i, p in enumerate(c.photos)]
            shown = [(i, t) for i, t in thumbs if t is not None]
            st.image([t for _, t in shown], caption=[f"#{i + 1}" for i, _ in shown], width=THUMB)
            r1, r2 = st.columns([4, 1], vertical_alignment="bottom")
            r1.multiselect("Photos to remove", list(range(n)), key=f"{K}_pick_{c.id}",
                           format_func=lambda i: f"#{i + 1}", placeholder="Pick photos by number")
            r2.button("Remove photos", key=f"{K}_rm_{c.id}", on_click=_remove_photos, args=(c.id,),
                      disabled=not st.session_state.get(f"{K}_pick_{c.id}"))


def editor(keep_features: Callable[[list[str]], None] | None) -> own.Dataset:
    """Section 1: every class, a button to add one, and the camera. Returns the working dataset as it is now."""
    ds, repaired = store().dataset()
    for text in repaired:
        st.warning(text, icon=":material/healing:")
    for c in ds.classes:
        class_box(c, keep_features, can_remove=len(ds.classes) > 1)
    if st.button("Add a class", key=f"{K}_add", icon=":material/add:", disabled=len(ds.classes) >= own.MAX_CLASSES,
                 help=f"{own.MIN_CLASSES} to {own.MAX_CLASSES} classes"):
        edit(own.add_class)
        st.rerun()
    camera(ds, keep_features)
    show_notes(None)  # any left: a class removed meanwhile, the camera switched off
    return ds


def camera(ds: own.Dataset, keep_features: Callable[[list[str]], None] | None) -> None:
    """The camera adds each photo it takes to the class picked beside it (one camera, any class)."""
    if not ds.classes or not st.toggle("Take photos with the camera", key=f"{K}_camera"):
        return
    ids = [c.id for c in ds.classes]
    names = {c.id: c.name for c in ds.classes}
    if st.session_state.get(f"{K}_cam_class") not in ids:
        st.session_state[f"{K}_cam_class"] = ids[0]
    target = st.selectbox("Each photo goes to", ids, format_func=names.get, key=f"{K}_cam_class")
    nonce = f"{K}_cam_nonce"
    shot = st.camera_input(f"Take a photo for “{names[target]}”", key=f"{K}_cam_{st.session_state.get(nonce, 0)}")
    st.caption("The browser asks once to use the camera. If it is blocked or there is none, the box above says so: "
               "allow it in the address bar (only this page, on this machine), or add photos by upload instead. "
               "Nothing you already added depends on it.")
    if shot is not None:
        add_files(target, [shot], keep_features, "camera")
        _bump(nonce)  # ready for the next photo
        st.rerun()
    show_notes("camera")


# ---------------------------------------------------------------- save, share, restore
def _set_label(s) -> str:
    names = ", ".join(s.dataset.names)
    when = datetime.fromtimestamp(s.saved).strftime("%m-%d %H:%M")
    return f"{names} · {s.dataset.n_photos} photos · saved {when}"


def tools(ds: own.Dataset) -> None:
    """Export the classes (.zip), import a zip, open a saved set or start again; nothing is lost by any of them."""
    with st.expander("Save, share or restore your classes", icon=":material/inventory_2:"):
        c1, c2 = st.columns(2)
        c1.download_button("Export these classes (.zip)", data=lambda: export_dataset(store(), ds),
                           file_name=f"classes-{ds.digest()}.zip", mime="application/zip", key=f"{K}_export",
                           icon=":material/download:", on_click="ignore", disabled=ds.n_photos == 0,
                           help="dataset.json (class names) and every photo as a PNG; Import reads it back")
        if c2.button("Start again with two empty classes", key=f"{K}_fresh", icon=":material/restart_alt:",
                     help="these classes are kept as a saved set below"):
            _replace(own.starting(), "Started again; your previous classes are under Saved sets.")
        up = st.file_uploader("Import classes exported by this app (.zip)", type=["zip"], key=f"{K}_import",
                              max_upload_size=MAX_ARCHIVE_MB)
        if up is not None and st.session_state.get(f"{K}_imported") != up.file_id:
            st.session_state[f"{K}_imported"] = up.file_id
            try:
                new = import_dataset(store(), up.getvalue())
            except DatasetArchiveError as e:
                note("error", f"Not imported: {md(e)}. Your classes are unchanged.")
            except OSError as e:
                note("error", f"Not imported: the store can't be written ({e.strerror or e}).")
            else:
                note("success", f"Imported {len(new.classes)} classes and {new.n_photos} photos; your previous "
                                "classes are under Saved sets.")
            st.rerun()
        saved = [s for s in store().saved_sets() if s.digest != ds.digest()]
        if saved:
            by = {s.digest: s for s in saved}
            s1, s2 = st.columns([4, 1], vertical_alignment="bottom")
            pick = s1.selectbox("Saved sets (every trained run's classes, every set you replaced)", list(by),
                                format_func=lambda k: _set_label(by[k]), key=f"{K}_saved")
            if s2.button("Open", key=f"{K}_open_set", icon=":material/folder_open:"):
                _replace(by[pick].dataset, "Opened the saved set; the classes you had are under Saved sets.")


def _replace(ds: own.Dataset, text: str) -> None:
    try:
        store().replace(ds)
    except OSError as e:
        note("error", f"Nothing changed: the store can't be written ({e.strerror or e}).")
    else:
        note("success", text)
    st.rerun()
