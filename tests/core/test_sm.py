"""SM3, HMAC-SM3, SM4-GCM and SM2 against the published vectors and the ``openssl`` tool."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.core.security import (
    Sm2PrivateKey,
    Sm2PublicKey,
    SmCryptoError,
    hash_password,
    hmac_sm3,
    sm3,
    sm4_gcm_decrypt,
    sm4_gcm_encrypt,
    verify_password,
)

KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")


class TestSm3:
    def test_gbt_32905_abc(self):
        assert sm3(b"abc").hex() == (
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        )

    def test_gbt_32905_64_bytes(self):
        assert sm3(b"abcd" * 16).hex() == (
            "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
        )

    def test_hmac_sm3_is_rfc_2104_over_sm3(self):
        # HMAC by its definition, from the SM3 above: H((K^opad) || H((K^ipad) || m))
        key, msg = b"key", b"The quick brown fox jumps over the lazy dog"
        block = key.ljust(64, b"\0")
        inner = sm3(bytes(b ^ 0x36 for b in block) + msg)
        expected = sm3(bytes(b ^ 0x5C for b in block) + inner)
        assert hmac_sm3(key, msg) == expected

    def test_hmac_refuses_an_empty_key(self):
        with pytest.raises(SmCryptoError, match="non-empty key"):
            hmac_sm3(b"", b"x")


class TestSm4:
    def test_gbt_32907_block(self):
        """The standard's example: key = plaintext = 0123456789abcdeffedcba9876543210. The
        block cipher under GCM is the same one, so this pins the algorithm itself."""
        encryptor = Cipher(algorithms.SM4(KEY), modes.ECB()).encryptor()
        block = encryptor.update(KEY) + encryptor.finalize()
        assert block.hex() == "681edf34d206965e86b3e94f536e4246"

    def test_gcm_blob_layout_matches_an_independent_decryption(self):
        blob = sm4_gcm_encrypt(KEY, b"hello", aad=b"ctx")
        assert len(blob) == 12 + 5 + 16
        decryptor = Cipher(algorithms.SM4(KEY), modes.GCM(blob[:12], blob[-16:])).decryptor()
        decryptor.authenticate_additional_data(b"ctx")
        assert decryptor.update(blob[12:-16]) + decryptor.finalize() == b"hello"

    def test_each_encryption_uses_a_fresh_nonce(self):
        assert sm4_gcm_encrypt(KEY, b"same") != sm4_gcm_encrypt(KEY, b"same")

    @settings(max_examples=60, deadline=None)
    @given(plaintext=st.binary(max_size=300), aad=st.binary(max_size=40))
    def test_round_trip(self, plaintext, aad):
        assert sm4_gcm_decrypt(KEY, sm4_gcm_encrypt(KEY, plaintext, aad), aad) == plaintext

    @settings(max_examples=60, deadline=None)
    @given(plaintext=st.binary(max_size=100), data=st.data())
    def test_any_flipped_bit_is_refused(self, plaintext, data):
        blob = bytearray(sm4_gcm_encrypt(KEY, plaintext, b"aad"))
        bit = data.draw(st.integers(0, len(blob) * 8 - 1))
        blob[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(SmCryptoError, match="authentication failed"):
            sm4_gcm_decrypt(KEY, bytes(blob), b"aad")

    def test_wrong_aad_wrong_key_short_blob_and_bad_key_size(self):
        blob = sm4_gcm_encrypt(KEY, b"secret", b"row 1")
        with pytest.raises(SmCryptoError, match="authentication failed"):
            sm4_gcm_decrypt(KEY, blob, b"row 2")
        with pytest.raises(SmCryptoError, match="authentication failed"):
            sm4_gcm_decrypt(bytes(16), blob, b"row 1")
        with pytest.raises(SmCryptoError, match="at least 28 bytes"):
            sm4_gcm_decrypt(KEY, blob[:20])
        with pytest.raises(SmCryptoError, match="16 bytes, not 15"):
            sm4_gcm_encrypt(KEY[:15], b"x")


@pytest.fixture(scope="module")
def sm2_key() -> Sm2PrivateKey:
    return Sm2PrivateKey.generate()


class TestSm2:
    def test_sign_and_verify(self, sm2_key):
        signature = sm2_key.sign(b"checkpoint")
        assert signature[0] == 0x30  # DER SEQUENCE {r, s}
        public = sm2_key.public_key()
        assert public.verify(b"checkpoint", signature)
        assert not public.verify(b"checkpoinT", signature)
        assert not public.verify(b"checkpoint", signature[:-1])
        assert not public.verify(b"checkpoint", b"not a signature")
        assert not Sm2PrivateKey.generate().public_key().verify(b"checkpoint", signature)

    def test_pem_round_trips(self, sm2_key):
        again = Sm2PrivateKey.from_pem(sm2_key.to_pem())
        assert again.public_key() == sm2_key.public_key()
        public = Sm2PublicKey.from_pem(sm2_key.public_key().to_pem())
        assert public.verify(b"m", again.sign(b"m"))
        assert public.fingerprint() == sm3(public.to_der()).hex()

    def test_encrypted_pem_needs_its_password(self, sm2_key):
        pem = sm2_key.to_pem(password=b"correct horse")
        assert "ENCRYPTED" in pem
        assert Sm2PrivateKey.from_pem(pem, b"correct horse").public_key() == sm2_key.public_key()
        with pytest.raises(SmCryptoError, match="password"):
            Sm2PrivateKey.from_pem(pem, b"wrong")

    def test_refuses_what_is_not_an_sm2_key(self):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        p256 = ec.generate_private_key(ec.SECP256R1())
        pem = p256.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        with pytest.raises(SmCryptoError):
            Sm2PublicKey.from_pem(pem)
        with pytest.raises(SmCryptoError, match="PEM"):
            Sm2PrivateKey.from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")


def _openssl_sm2() -> str | None:
    """Why the openssl interop test cannot run here, or None when it can."""
    if shutil.which("openssl") is None:
        return "no openssl command on this machine"
    version = subprocess.run(
        ["openssl", "version"], capture_output=True, text=True, check=False
    ).stdout
    match = re.match(r"OpenSSL (\d+)\.", version)
    if not match or int(match.group(1)) < 3:
        return f"openssl {version.strip()!r} has no SM2 distid support (needs OpenSSL 3)"
    probe = subprocess.run(
        ["openssl", "genpkey", "-algorithm", "SM2"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        return "this openssl build has no SM2"
    return None


_NO_OPENSSL_SM2 = _openssl_sm2()
_DISTID = "distid:1234567812345678"


@pytest.mark.skipif(_NO_OPENSSL_SM2 is not None, reason=_NO_OPENSSL_SM2 or "")
class TestSm2WithOpenssl:
    def _run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["openssl", *args], capture_output=True, check=False)

    def test_python_signature_verifies_with_openssl(self, tmp_path: Path, sm2_key):
        message = "审计链检查点 seq=42".encode()
        (tmp_path / "msg").write_bytes(message)
        (tmp_path / "sig").write_bytes(sm2_key.sign(message))
        (tmp_path / "pub.pem").write_text(sm2_key.public_key().to_pem())
        verify = (
            "pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pkeyopt", _DISTID,
            "-pubin", "-inkey", str(tmp_path / "pub.pem"),
            "-in", str(tmp_path / "msg"), "-sigfile", str(tmp_path / "sig"),
        )  # fmt: skip
        done = self._run(*verify)
        assert done.returncode == 0, done.stderr
        assert b"Verified Successfully" in done.stdout
        (tmp_path / "msg").write_bytes(message + b"!")
        assert self._run(*verify).returncode != 0

    def test_openssl_signature_verifies_in_python(self, tmp_path: Path):
        key, message = tmp_path / "key.pem", b"signed by the openssl tool"
        (tmp_path / "msg").write_bytes(message)
        assert self._run("genpkey", "-algorithm", "SM2", "-out", str(key)).returncode == 0
        signed = self._run(
            "pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-pkeyopt", _DISTID,
            "-inkey", str(key), "-in", str(tmp_path / "msg"), "-out", str(tmp_path / "sig"),
        )  # fmt: skip
        assert signed.returncode == 0, signed.stderr
        signature = (tmp_path / "sig").read_bytes()
        private = Sm2PrivateKey.from_pem(key.read_bytes())
        assert private.public_key().verify(message, signature)
        assert not private.public_key().verify(message + b"!", signature)
        # and the key openssl wrote signs in Python for openssl's public key
        pub = self._run("pkey", "-in", str(key), "-pubout").stdout
        assert Sm2PublicKey.from_pem(pub).verify(b"x", private.sign(b"x"))


class TestPasswordsStillThere:
    def test_the_package_keeps_the_old_module_surface(self, settings):
        assert verify_password(hash_password("Xx-1234567"), "Xx-1234567")
