"""`qnms pki`: a private CA with KME and SAE certificates for ETSI GS QKD 014 mutual TLS.

ETSI GS QKD 014 (clause 5.1) puts the key delivery API on HTTPS and authenticates both
sides with certificates: the SAE by its client certificate, the KME by its server
certificate. The KME takes the SAE_ID (and a peer KME its KME_ID) from the certificate's
common name, also present as a DNS-style SAN (agents/kme/tls.py). This command makes a
small private PKI for the emulated network: ECDSA P-256 keys (every TLS stack accepts
them), one CA, one certificate per KME (server and client use: KMEs also call each
other) and per SAE (client use). Private keys are written 0600.

Layout of ``--out DIR``: ``ca.pem`` (+ ``ca.key``), ``<id>.pem`` + ``<id>.key`` per
identity.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from qnms.network.inventory import DEFAULT_NETWORK, load_network

VALID_DAYS = 825


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "qnms emulated QKD network"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


class Pki:
    """A private CA that issues KME and SAE certificates into one directory."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.ca_cert_path = self.out / "ca.pem"
        ca_key_path = self.out / "ca.key"
        if self.ca_cert_path.exists() and ca_key_path.exists():
            loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{ca_key_path}: the CA key must be an ECDSA key")
            self.ca_key = loaded
            self.ca_cert = x509.load_pem_x509_certificate(self.ca_cert_path.read_bytes())
            return
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        self.ca_cert = (
            x509.CertificateBuilder()
            .subject_name(_name("qnms private CA"))
            .issuer_name(_name("qnms private CA"))
            .public_key(self.ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .sign(self.ca_key, hashes.SHA256())
        )
        _write_key(ca_key_path, self.ca_key)
        self.ca_cert_path.write_bytes(self.ca_cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, ident: str, *, server: bool, hosts: Iterable[str] = ()) -> tuple[Path, Path]:
        """A certificate for ``ident`` (CN and first SAN); server ones also name
        localhost, 127.0.0.1 and ``hosts`` (addresses or DNS names the KME listens on)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        sans: list[x509.GeneralName] = [x509.DNSName(ident)]
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
        if server:
            for host in ("localhost", "127.0.0.1", *hosts):
                try:
                    sans.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    sans.append(x509.DNSName(host))
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(ident))
            .issuer_name(self.ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .sign(self.ca_key, hashes.SHA256())
        )
        cert_path, key_path = self.out / f"{ident}.pem", self.out / f"{ident}.key"
        _write_key(key_path, key)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cert_path, key_path


def make_pki(out: Path, kmes: Iterable[str], saes: Iterable[str], hosts: Iterable[str] = ()) -> Pki:
    pki = Pki(out)
    hosts = list(hosts)
    for kme in kmes:
        pki.issue(kme, server=True, hosts=hosts)
    for sae in saes:
        pki.issue(sae, server=False)
    return pki


def network_identities(network_file: str | None) -> tuple[list[str], list[str]]:
    """KME ids and SAE ids (endpoint applications) of a network's SS elements."""
    net = load_network(network_file or DEFAULT_NETWORK)
    kmes, saes = [], []
    for node in net.nodes:
        ss = node.get("service-stratum")
        if not ss:
            continue
        kmes.append(ss.get("kme-id") or node["name"])
        for ep in ss.get("endpoints", {}).get("endpoint", []):
            if ep.get("application"):
                saes.append(ep["application"])
    return kmes, saes
