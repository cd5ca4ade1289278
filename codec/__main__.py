"""`python -m codec [KEY_ID]`: print a new payload key (`id:base64`) for C2C_PAYLOAD_KEYS or the key file.

To rotate, put the new key first and keep the old ones after it (comma-separated): the first encrypts,
all decrypt.
"""

import sys

from codec import new_key

sys.stdout.write(new_key(sys.argv[1] if len(sys.argv) > 1 else "k1") + "\n")
