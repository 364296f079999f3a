"""Loan-code QR images (PNG for print, SVG for the web), drawn by ``qrcode``."""

from __future__ import annotations

import io

import qrcode
from qrcode.constants import ERROR_CORRECT_M
from qrcode.image.svg import SvgPathImage


def _code(url: str) -> qrcode.QRCode:
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=10, border=4)
    qr.add_data(url)
    qr.make(fit=True)
    return qr


def png(url: str) -> bytes:
    out = io.BytesIO()
    _code(url).make_image(fill_color="black", back_color="white").save(out, format="PNG")
    return out.getvalue()


def svg(url: str) -> bytes:
    out = io.BytesIO()
    _code(url).make_image(image_factory=SvgPathImage).save(out)
    return out.getvalue()
