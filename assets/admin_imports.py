"""Upload, preview, confirm: the admin's two-step imports (assets CSV, floor-plan GeoJSON).

Step 1 runs the import service with ``dry_run=True`` (everything, then rolled back) and shows its
counts or its row errors. The uploaded files wait in the user's session, compressed, until step 2
runs the same service for real on exactly those bytes, or the user starts over. Nothing here decides
what a good row is: the services do, for the command line and the admin alike.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import zlib
from dataclasses import dataclass

from django import forms

SESSION_KEY = "admin-import"
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # 20 MB: about 150,000 asset rows


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes

    def text(self) -> str:
        """The file as text; UnicodeDecodeError names nothing, so callers report the file name."""
        return self.data.decode("utf-8-sig")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)]


class UploadForm(forms.Form):
    def __init__(self, *args, multiple: bool = False, accept: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        field_class = MultipleFileField if multiple else forms.FileField
        self.fields["files"] = field_class(
            label="Files" if multiple else "File",
            widget=(MultipleFileInput if multiple else forms.ClearableFileInput)(attrs={"accept": accept}),
        )

    def clean_files(self):
        files = self.cleaned_data["files"]
        files = files if isinstance(files, list) else [files]
        for upload in files:
            if upload.size > MAX_UPLOAD_BYTES:
                raise forms.ValidationError(
                    f"{upload.name} is {upload.size / 1e6:.1f} MB; the admin takes files up to "
                    f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MB (use the management command for larger ones)"
                )
        return [Upload(name=upload.name, data=upload.read()) for upload in files]


def stash(request, kind: str, uploads: list[Upload]) -> str:
    """Keep the uploads in the session for the confirm step; returns the token the form posts back."""
    token = secrets.token_urlsafe(16)
    request.session[SESSION_KEY] = {
        "kind": kind,
        "token": token,
        "files": [
            {
                "name": upload.name,
                "sha256": hashlib.sha256(upload.data).hexdigest(),
                "data": base64.b64encode(zlib.compress(upload.data, 6)).decode("ascii"),
            }
            for upload in uploads
        ],
    }
    return token


def unstash(request, kind: str, token: str) -> list[Upload] | None:
    """The uploads previewed under ``token``, or None when they are gone (other import, new session)."""
    stored = request.session.get(SESSION_KEY)
    if not stored or stored.get("kind") != kind or not secrets.compare_digest(stored.get("token", ""), token or ""):
        return None
    uploads = []
    for item in stored["files"]:
        data = zlib.decompress(base64.b64decode(item["data"]))
        if hashlib.sha256(data).hexdigest() != item["sha256"]:
            return None
        uploads.append(Upload(name=item["name"], data=data))
    return uploads


def forget(request) -> None:
    request.session.pop(SESSION_KEY, None)
