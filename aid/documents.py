"""What an uploaded document is, judged by its content, not its name: JPEG, PNG or PDF only,
at most ``AID_DOCUMENT_MAX_BYTES``. A renamed program (``scan.jpg`` that is an .exe) is
refused; so is an empty or oversized file."""

from __future__ import annotations

from django.conf import settings

from .errors import AidError

# (content type, file extension, the first bytes of such a file)
SIGNATURES = (
    ("image/jpeg", ".jpg", b"\xff\xd8\xff"),
    ("image/png", ".png", b"\x89PNG\r\n\x1a\n"),
    ("application/pdf", ".pdf", b"%PDF-"),
)


def max_bytes() -> int:
    return int(getattr(settings, "AID_DOCUMENT_MAX_BYTES", 10 * 1024 * 1024))


def sniff(head: bytes) -> tuple[str, str] | None:
    """(content type, extension) of a file starting with ``head``; None: not an accepted type."""
    for content_type, extension, magic in SIGNATURES:
        if head.startswith(magic):
            return content_type, extension
    return None


def check_upload(upload) -> tuple[str, str]:
    """The (content type, extension) of ``upload`` (a Django UploadedFile), or an AidError."""
    limit = max_bytes()
    size = upload.size or 0
    if size == 0:
        raise AidError("上传的文件是空的。", "file")
    if size > limit:
        raise AidError(
            f"文件太大（{size / 1024 / 1024:.1f} MB），每个文件不能超过 {limit / 1024 / 1024:.0f} MB。"
            "请压缩照片或分页扫描后再上传。",
            "file",
        )
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    found = sniff(head)
    if found is None:
        raise AidError("只能上传 JPEG、PNG 图片或 PDF 文件（按文件内容判断，改扩展名无效）。", "file")
    return found
