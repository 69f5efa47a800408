from imagegen import image_bytes

from catalog import Provenance, add_image


def test_add_image_generated(cat):
    result = add_image(cat, image_bytes(1), "Yeezy_350", Provenance(origin="import"))
    assert result.created and result.image["width"] == 96
