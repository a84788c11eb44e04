"""A clinic and a pharmacy, each with an EHR enabled as a FHIR sender."""

import pytest

from tests.clinical.ward import Ward, open_ward
from tests.integrations.fhir.support import Sender, enable_sender
from tests.pharmacy.dispensary import Dispensary, open_dispensary


@pytest.fixture
async def ward(client, admin_token, token) -> Ward:
    return await open_ward(client, admin_token, token)


@pytest.fixture
async def ehr(client, admin_token, token, ward) -> Sender:
    """The clinic's EHR; its administrations outside a session draw from the procedure room."""
    return await enable_sender(client, admin_token, token, ward.id, ward.room.id, role="nurse")


@pytest.fixture
async def dispensary(client, admin_token, token, clock) -> Dispensary:
    return await open_dispensary(client, admin_token, token, clock)


@pytest.fixture
async def pharmacy_system(client, admin_token, token, dispensary) -> Sender:
    """The pharmacy's system; its dispenses draw from the dispensing shelf."""
    return await enable_sender(client, admin_token, token, dispensary.id,
                               dispensary.shelf.id, role="pharmacist",
                               subject="pharmacy-system")  # fmt: skip
