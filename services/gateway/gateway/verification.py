"""Real-name verification (实名认证) through a verifier interface.

A real deployment plugs in a licensed provider (the public-security citizen identity service for people, the
market-regulation registry for organisations). The default is the `SandboxRealNameVerifier`, named as such: it
confirms any well-formed number and name except its test data, like a provider's sandbox:
- a name containing "mismatch" is refused (the number and the name do not belong together);
- a name containing "unavailable" makes the provider unreachable (the request is a 503, retry later).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol


class VerifierUnavailable(RuntimeError):
    """The provider could not be asked; nothing was decided."""


@dataclass(frozen=True)
class VerificationResult:
    confirmed: bool
    level: str  # verifier and method, recorded with the verification
    reason: str = ""


class RealNameVerifier(Protocol):
    async def verify_person(self, name: str, resident_id: str) -> VerificationResult: ...

    async def verify_organisation(self, name: str, uscc: str, representative: str) -> VerificationResult: ...


class SandboxRealNameVerifier:
    """Moves no data anywhere and checks nothing against a registry; for development and tests only."""

    name = "sandbox"

    def _test_data(self, *names: str) -> VerificationResult | None:
        lowered = " ".join(names).lower()
        if "unavailable" in lowered:
            raise VerifierUnavailable("sandbox verifier: provider unavailable (test data)")
        if "mismatch" in lowered:
            return VerificationResult(False, f"{self.name}:refused", "the name does not match the number")
        return None

    async def verify_person(self, name: str, resident_id: str) -> VerificationResult:
        return self._test_data(name) or VerificationResult(True, f"{self.name}:id_and_name")

    async def verify_organisation(self, name: str, uscc: str, representative: str) -> VerificationResult:
        return (self._test_data(name, representative)
                or VerificationResult(True, f"{self.name}:uscc_name_and_representative"))


# REAL_NAME_VERIFIER -> how to build it. A licensed provider's adapter is added here under its own name.
VERIFIERS: Mapping[str, Callable[[], RealNameVerifier]] = {SandboxRealNameVerifier.name: SandboxRealNameVerifier}


def choose_verifier(name: str, known: Mapping[str, Callable[[], RealNameVerifier]] = VERIFIERS) -> RealNameVerifier:
    """The verifier the settings name; an unknown name is refused (settings check it first, so the gateway does
    not start with it)."""
    try:
        return known[name]()
    except KeyError:
        raise ValueError(f"unknown real-name verifier {name!r}; known: {', '.join(sorted(known))}") from None
