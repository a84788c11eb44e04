import pytest

from tests.pharmacy.dispensary import Dispensary, open_dispensary


@pytest.fixture
async def dispensary(client, admin_token, token, clock) -> Dispensary:
    return await open_dispensary(client, admin_token, token, clock)
