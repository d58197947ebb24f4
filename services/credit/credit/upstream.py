"""Events credit consumes from a publisher whose contract has not merged yet (crowdsupport, branch crowdsupport).

The wire name and fields are the ones agreed with that branch; when it merges, this model is replaced by an
import of `crowdsupport.contracts.VoucherVoided` (same wire name, so nothing else changes).
"""

from __future__ import annotations

from shared.envelope import EventData


class VoucherVoided(EventData):
    event_type = "cn.sizhong.crowdsupport.voucher.voided.v1"

    voucher_id: str
    programme_id: str
    agency_id: str
    enterprise_id: str
    provider_id: str
    reason: str
    fraud: bool
    fraud_by: list[str]
    clawed_back_fen: int
    currency: str
