"""Logging filter: no full ID number in any log line (docs/security.md)."""

import logging

from registry.idnumber import mask_id_numbers_in_text


class MaskIdNumbers(logging.Filter):
    """Replaces every 15- or 18-character ID number in a record's message by its masked form
    (the same mask as pages). The message is formatted here, once, with its arguments."""

    def filter(self, record):
        message = record.getMessage()
        masked = mask_id_numbers_in_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
