"""Start-up hook of every Python process in a harness run (this folder is on PYTHONPATH).

It does nothing unless ``GLCOMPAT_LOOP`` is set: see ``glcompat_boot``.
"""

import glcompat_boot

glcompat_boot.activate_from_environment()
