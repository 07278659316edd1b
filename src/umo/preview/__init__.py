"""The self-contained preview page: ``write_preview(anim, "preview.html")``."""

from umo.preview.html import preview_html, write_preview

__all__ = ["preview_html", "write_preview"]
