"""`qnms pki`: a private CA with KME and SAE certificates, private keys 0600."""

from __future__ import annotations

import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from qnms.app.cli import main


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_pki_command_issues_ca_kme_and_sae_certificates_with_private_keys_0600(
    tmp_path: Path,
) -> None:
    out = tmp_path / "pki"
    args = ["pki", "--out", str(out), "--kme", "kme-x", "--sae", "app-1", "--host", "10.0.0.5"]
    assert main(args) == 0
    ca = _cert(out / "ca.pem")
    for ident, server in (("kme-x", True), ("app-1", False)):
        cert = _cert(out / f"{ident}.pem")
        assert cert.issuer == ca.subject
        cert.verify_directly_issued_by(ca)
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == ident
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert ident in san.get_values_for_type(x509.DNSName)
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert (ExtendedKeyUsageOID.SERVER_AUTH in eku) is server
        ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
        assert ips == ({"127.0.0.1", "10.0.0.5"} if server else set())
        assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    for key in out.glob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_pki_defaults_to_the_kmes_and_applications_of_the_network(tmp_path: Path) -> None:
    out = tmp_path / "pki"
    assert main(["pki", "--out", str(out)]) == 0
    names = {p.stem for p in out.glob("*.pem")}
    assert {"ca", "kme-alice", "kme-charlie", "ccips", "ipsec-controller"} <= names
