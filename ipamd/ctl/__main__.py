"""``python -m ipamd.ctl``: the same as the vpc-ipamctl console script."""

import sys

from ipamd.ctl import main

sys.exit(main())
